"""Shared test fixtures: private run directories, a process reaper, and a leak check."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

TESTS = Path(__file__).parent

# tests/plugin runs inner pytest sessions; pytest only honours this in the top conftest.
pytest_plugins = ["pytester"]

#: The event loops hubcore supports, as ``anyio_backend`` fixture params (uvloop is asyncio's
#: API on another loop: hubcore's asyncio transport runs on its transports).
ANYIO_BACKENDS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"),
    pytest.param("trio", id="trio"),
]


@pytest.fixture
def rundir() -> Iterator[Path]:
    """A private (0700) run directory with a short path: Unix socket paths are limited."""
    path = Path(tempfile.mkdtemp(prefix="hc-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Spawner:
    """Starts real Python processes for a test and guarantees they are gone afterwards."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def python(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdout: int = subprocess.DEVNULL,
        stdin: int | None = None,
    ) -> subprocess.Popen[bytes]:
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(TESTS.parent), full_env.get("PYTHONPATH", "")]
        )
        proc = subprocess.Popen(
            [sys.executable, *args],
            env=full_env,
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    """Start processes with ``spawn.python(...)``; all are killed and reaped after the test."""
    spawner = Spawner()
    yield spawner
    spawner.cleanup()


@pytest.fixture(autouse=True)
def _no_leftover_processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a child process of this test process running.

    A session's hub app runs on purpose across tests: the plugin checks for leftovers of
    those at the end of the session instead.
    """
    if "hub_app" in request.fixturenames:
        yield
        return
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    _, alive = psutil.wait_procs(left, timeout=5)
    alive = [p for p in alive if _status(p) != psutil.STATUS_ZOMBIE]
    if alive:
        for p in alive:
            p.kill()
        pytest.fail(f"test left processes running: {[p.pid for p in alive]}")


def _status(proc: psutil.Process) -> str:
    try:
        return str(proc.status())
    except psutil.Error:
        return psutil.STATUS_ZOMBIE
