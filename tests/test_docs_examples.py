"""Every documentation example marked ``# example: NAME`` runs, and prints what it says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(# example: ([\w-]+)\n.*?)```", re.S)


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for match in BLOCK.finditer(page.read_text(encoding="utf-8")):
            found.append((f"{page.relative_to(DOCS)}:{match.group(2)}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_runs(name: str, code: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), {"__name__": "__docs__"})
    printed = out.getvalue()
    # comments of the form `# <expected output>` after print(...) must appear in the output
    for line in code.splitlines():
        m = re.match(r"\s*print\(.*\)\s+#\s+(.+)$", line)
        if m:
            expected = m.group(1).split(" / ")[0].split("(")[0].strip()
            assert expected.split("...")[0].strip() in printed, f"{name}: expected {expected!r} in output:\n{printed}"
