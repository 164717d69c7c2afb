"""Starting the loopback server and talking to its control port (blocking, outside timed code)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks._weather import Weather

__all__ = ["ServerHandle", "start_server"]


@dataclass
class ServerHandle:
    """Where the server listens, and a blocking control connection to it."""

    control_port: int
    ports: dict[str, int]
    _sock: socket.socket | None = field(default=None, repr=False)
    _file: IO[bytes] | None = field(default=None, repr=False)

    def base_url(self, provider: str) -> str:
        """The OpenAI-style base URL of ``provider`` (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.ports[provider]}/v1"

    def command(self, cmd: Mapping[str, Any]) -> dict[str, Any]:
        """Send one control command and return the reply."""
        if self._sock is None:
            self._sock = socket.create_connection(("127.0.0.1", self.control_port), timeout=10)
            self._file = self._sock.makefile("rb")
        assert self._file is not None
        self._sock.sendall(json.dumps(cmd).encode() + b"\n")
        reply: dict[str, Any] = json.loads(self._file.readline())
        if not reply.get("ok"):
            raise RuntimeError(f"server refused {cmd!r}: {reply}")
        return reply

    def weather(self, weather: Mapping[str, Weather]) -> None:
        """Set each named provider's weather."""
        self.command({"op": "weather", "weather": {n: w.to_json() for n, w in weather.items()}})

    def reset(self) -> None:
        """Fair weather everywhere; counters cleared."""
        self.command({"op": "reset"})

    def counts(self) -> dict[str, dict[str, int]]:
        """Responses per provider and outcome since the last reset."""
        counts: dict[str, dict[str, int]] = self.command({"op": "stats"})["counts"]
        return counts

    def close(self) -> None:
        """Close the control connection."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def to_json(self) -> dict[str, Any]:
        return {"control_port": self.control_port, "ports": self.ports}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerHandle:
        return cls(int(data["control_port"]), {str(k): int(v) for k, v in data["ports"].items()})


def start_server(
    providers: list[str], *, cpu: int, ttl: float, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], ServerHandle]:
    """Start the server process pinned to ``cpu``; return it once it listens."""
    stderr = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    command = [sys.executable, "-m", "benchmarks._server", "--providers", ",".join(providers)]
    proc = subprocess.Popen(
        [*command, "--cpu", str(cpu), "--ttl", str(ttl)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("benchmark server did not start")
    info = json.loads(line)
    return proc, ServerHandle(int(info["control"]), {str(k): int(v) for k, v in info["providers"].items()})
