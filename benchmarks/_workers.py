"""The orchestrator's side of the worker processes: start, send a command, wait (bounded), stop."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from benchmarks._control import ServerHandle

__all__ = ["DISPLAY", "WorkerError", "WorkerProc"]

#: worker kind -> the name used in tables and charts
DISPLAY = {
    "raw": "raw aiohttp",
    "polyroute": "polyroute",
    "openai": "openai client",
    "litellm": "LiteLLM Router",
    "polyroute-redis": "polyroute, state on Redis",
    "polyroute-budget": "polyroute + budget (memory)",
    "polyroute-redis-budget": "polyroute + budget, state on Redis",
    "litellm-redis": "LiteLLM Router + Redis",
}


class WorkerError(RuntimeError):
    """A worker failed a command, died, or did not answer in time."""


class WorkerProc:
    """One worker process (one client kind) pinned to ``cpu``."""

    def __init__(self, kind: str, server: ServerHandle, *, cpu: int, root: Path, log: IO[bytes]) -> None:
        self.kind = kind
        env = dict(os.environ)
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
        handle = json.dumps(server.to_json())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._worker", "--kind", kind, "--cpu", str(cpu), "--server", handle],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=root,
            env=env,
        )
        self.ready = self._read(timeout=180)

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerError(f"{self.kind} worker did not answer within {timeout:.0f}s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    raise WorkerError(f"{self.kind} worker exited (code {self.proc.poll()})")
                reply: dict[str, Any] = json.loads(line)
                return reply

    def call(self, cmd: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Run one command; raise :class:`WorkerError` if it failed."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd).encode() + b"\n")
        self.proc.stdin.flush()
        reply = self._read(timeout)
        if not reply.pop("ok", False):
            raise WorkerError(f"{self.kind} worker failed {cmd['op']}: {reply.get('error')}")
        return reply

    def close(self) -> None:
        """Ask the worker to quit; kill it if it does not."""
        if self.proc.poll() is not None:
            return
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(b'{"op": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        """Stop this worker now."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
