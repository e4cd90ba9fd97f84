"""Inner pytest sessions against a hub app (``inner`` fixture), checked for leftover processes.

Every inner session runs with its own short ``TMPDIR``: the plugin puts the app's run
directory there, and every process of the app inherits it, which is how the leak check finds
them (``psutil`` reads each process's environment).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

HERE = Path(__file__).resolve().parent
BASIC = HERE.parent / "apps" / "basic" / "procfile.py"
TOY = HERE / "apps" / "toy" / "procfile.py"

#: Inner ``@pytest.mark.anyio`` tests run on asyncio, uvloop and trio.
ANYIO_CONFTEST = """
import pytest


@pytest.fixture(
    params=["asyncio", pytest.param(("asyncio", {"use_uvloop": True}), id="uvloop"), "trio"]
)
def anyio_backend(request):
    return request.param
"""

_SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+::\S+)")


@dataclass
class InnerRun:
    """One inner session: pytester's result, and each test's outcome by its name."""

    result: pytest.RunResult
    outcomes: dict[str, str]
    tmpdir: Path


def _outcomes(lines: list[str]) -> dict[str, str]:
    """``test name -> outcome`` from the ``-rA`` summary (``passed+error``: teardown failed)."""
    found: dict[str, str] = {}
    for line in lines:
        match = _SUMMARY_LINE.match(line)
        if match:
            name = match.group(2).split("::", 1)[1]
            outcome = match.group(1).lower()
            found[name] = f"{found[name]}+{outcome}" if name in found else outcome
    return found


def _processes_of(tmpdir: Path) -> list[psutil.Process]:
    """Processes that inherited the inner session's TMPDIR (its pytest and its hub apps)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("TMPDIR") == str(tmpdir):
                found.append(proc)
        except psutil.Error:
            continue  # gone meanwhile, or not ours to read
    return found


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:100]}"
    except psutil.Error:
        return f"pid {proc.pid}"


class Inner:
    """Runs inner sessions for one outer test: ``inner.run(*args, procfile=...)``."""

    basic = BASIC  #: tests/apps/basic: background, worker x2, hog
    toy = TOY  #: tests/plugin/apps/toy: background, worker x2; forgives many crashes

    def __init__(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pytester = pytester
        self.monkeypatch = monkeypatch
        self.tmpdirs: list[Path] = []

    def run(self, *args: str, procfile: Path | None = BASIC) -> InnerRun:
        """Run pytest in a subprocess with ``-rA``, then check it left no process running.

        ``--hub-procfile=PATH`` is passed as one argument on purpose: as two, pytest would take
        the procfile's path as a path argument and pick the repository's ini file and rootdir.
        """
        # Short: the app's Unix sockets go below it and their paths are limited to 107 bytes.
        tmpdir = Path(tempfile.mkdtemp(prefix="hpt-"))
        self.tmpdirs.append(tmpdir)
        self.monkeypatch.setenv("TMPDIR", str(tmpdir))
        hub_args = [f"--hub-procfile={procfile}"] if procfile is not None else []
        try:
            result = self.pytester.runpytest_subprocess(
                *hub_args, "-p", "anyio", "-p", "no:cacheprovider", "-rA", *args, timeout=100
            )
        finally:
            self.monkeypatch.delenv("TMPDIR")
        assert_nothing_left(tmpdir)
        return InnerRun(result, _outcomes(result.outlines), tmpdir)

    def use_every_anyio_backend(self) -> None:
        """Make the inner ``@pytest.mark.anyio`` tests run on asyncio, uvloop and trio."""
        self.pytester.makeconftest(ANYIO_CONFTEST)

    def cleanup(self) -> None:
        for tmpdir in self.tmpdirs:
            for proc in _processes_of(tmpdir):
                proc.kill()
            shutil.rmtree(tmpdir, ignore_errors=True)


def assert_nothing_left(tmpdir: Path) -> None:
    """No process of the inner session is alive once it returned (5 s for stragglers)."""
    _, alive = psutil.wait_procs(_processes_of(tmpdir), timeout=5)
    alive = [p for p in alive if _status(p) != psutil.STATUS_ZOMBIE]
    left = [_describe(p) for p in alive]
    for proc in alive:
        proc.kill()
    assert not left, f"the inner session left processes running: {left}"


def _status(proc: psutil.Process) -> str:
    try:
        return str(proc.status())
    except psutil.Error:
        return psutil.STATUS_ZOMBIE


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inner]:
    """Run inner pytest sessions (``inner.run(...)``); kills and removes what they leave."""
    runner = Inner(pytester, monkeypatch)
    yield runner
    runner.cleanup()


@pytest.fixture
def toy_copy(pytester: pytest.Pytester) -> Path:
    """A copy of the toy app in the inner session's folder (so test doubles sit beside it)."""
    shutil.copytree(
        TOY.parent, pytester.path, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
    )
    return pytester.path / "procfile.py"
