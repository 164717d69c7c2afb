"""Where tiktoken's BPE files come from: an explicit, ordered list of directories, never the network."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import pytest

import polyroute
from polyroute.routing import _tokens

CL100K = hashlib.sha1(b"https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken").hexdigest()


def _packaged_cl100k() -> Path | None:
    for source, directory in polyroute.tokenizer_dirs({}):
        if source in dict(_tokens.PACKAGED_BPE_DIRS) and (directory / CL100K).is_file():
            return directory / CL100K
    return None


def test_the_directories_come_in_a_documented_order(tmp_path: Path) -> None:
    env = {
        "POLYROUTE_TOKENIZER_DIR": str(tmp_path / "ours"),
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "tiktoken"),
        "DATA_GYM_CACHE_DIR": str(tmp_path / "gym"),
    }
    dirs = polyroute.tokenizer_dirs(env)
    assert dirs[:4] == [
        ("POLYROUTE_TOKENIZER_DIR", tmp_path / "ours"),
        ("TIKTOKEN_CACHE_DIR", tmp_path / "tiktoken"),
        ("DATA_GYM_CACHE_DIR", tmp_path / "gym"),
        ("temp dir", Path(tempfile.gettempdir()) / "data-gym-cache"),
    ]
    assert {source for source, _ in dirs[4:]} <= {package for package, _ in _tokens.PACKAGED_BPE_DIRS}


def test_other_packages_copies_can_be_turned_off() -> None:
    dirs = polyroute.tokenizer_dirs({"POLYROUTE_TOKENIZER_PACKAGES": "0"})
    assert [source for source, _ in dirs] == ["temp dir"]


def test_files_are_read_from_our_directory_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = _packaged_cl100k()
    if packaged is None:
        pytest.skip("no package here ships tiktoken's cl100k_base file to copy")
    monkeypatch.setenv("POLYROUTE_TOKENIZER_PACKAGES", "0")
    monkeypatch.setenv("POLYROUTE_TOKENIZER_DIR", str(tmp_path))
    # only our folder: LiteLLM sets TIKTOKEN_CACHE_DIR when imported, and tiktoken may have cached files
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-temp"))
    sha256 = _tokens._ENCODINGS["cl100k_base"][2]
    assert _tokens._bpe_ranks("cl100k_base", sha256) is None  # nothing there yet
    (tmp_path / CL100K).write_bytes(b"dG9rZW4= 0\n")  # a file that is not the published one
    assert _tokens._bpe_ranks("cl100k_base", sha256) is None
    (tmp_path / CL100K).write_bytes(packaged.read_bytes())
    ranks = _tokens._bpe_ranks("cl100k_base", sha256)
    assert ranks is not None and len(ranks) > 100_000
