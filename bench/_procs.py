"""Start a server subprocess, wait (bounded) for its READY line, always stop it; run a client."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class BenchError(Exception):
    """A system could not be measured; the message says why and ends up in its table row."""


def _tail(path: Path) -> str:
    try:
        return tail_text(path.read_bytes())
    except OSError:
        return ""


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first line ``proc`` writes on its stdout (a pipe), waiting at most ``timeout`` s.

    :raises BenchError: no whole line in time, or the process closed its stdout first.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    received = b""
    while b"\n" not in received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError(f"no line on stdout within {timeout:.0f} s")
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise BenchError(f"exited before its first line (code {proc.wait()})")
            received += chunk
    return received.split(b"\n", 1)[0].decode()


def expect_line(proc: subprocess.Popen[bytes], word: str, timeout: float) -> str:
    """Read ``proc``'s next line, which must start with ``word``; return the rest of it.

    :raises BenchError: another line, none in time, or the process ended first.
    """
    line = read_line(proc, timeout)
    if not line.startswith(word):
        raise BenchError(f"expected a line {word}..., got {line!r}")
    return line.removeprefix(word).strip()


def tell(proc: subprocess.Popen[bytes], line: str) -> None:
    """Write one line to ``proc``'s stdin (a pipe): the signal a measured role waits for."""
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def tail_text(text: bytes, lines: int = 12) -> str:
    """The last ``lines`` lines of a process's output, decoded."""
    return "\n".join(text.decode(errors="replace").strip().splitlines()[-lines:])


def _read_ready(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, str]:
    """Read stdout until the first line, which must be ``READY {json}``, within ``timeout``."""
    line = read_line(proc, timeout)
    if not line.startswith("READY "):
        raise BenchError(f"server said {line!r} instead of READY")
    env: dict[str, str] = json.loads(line.removeprefix("READY "))
    return env


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


@contextmanager
def running_server(
    module: str, socket_path: Path, env: dict[str, str], loop: str = "asyncio"
) -> Iterator[dict[str, str]]:
    """Run ``python -m module socket_path loop``; yield the environment its READY line gives.

    The server's stderr goes to ``<socket_path>.log``. A :class:`BenchError` raised while the
    server runs (no READY, or the client failed) comes out with that log's last lines appended.
    """
    log_path = socket_path.with_suffix(".log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(socket_path), loop],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **env},
            bufsize=0,
            start_new_session=True,  # Ctrl-C reaches only the runner, which stops us in order
        )
    try:
        yield _read_ready(proc, READY_TIMEOUT)
    except BenchError as exc:
        stop(proc)  # first, so the log is complete
        tail = _tail(log_path)
        raise BenchError(f"{exc}\nserver stderr:\n{tail}" if tail else str(exc)) from None
    finally:
        stop(proc)


def run_client(
    system: str, settings_json: str, env: dict[str, str], timeout: float
) -> dict[str, Any]:
    """Run ``python -m bench.clients`` for ``system``; return its JSON result."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.clients", system, settings_json],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={**os.environ, **env},
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"client did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BenchError(f"client failed (exit code {done.returncode})\n{tail_text(done.stderr)}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
