"""Whole-process measures: fresh processes timed from outside, interleaved with their baseline.

Each measure runs its commands in turn (A, B, A, B, ...) so that a burst of another tenant's
work lands on both, after one untimed round that fills the page cache and compiles bytecode.
The figure is the median wall time of each command; the ratio is of those medians.

- start-up: ``python -c "import hubcore"`` against ``python -c "import anyio, msgpack"``;
- CLI: ``hubcore ps`` and ``hubcore call echo.echo 1`` against an app started with
  ``hubcore start`` (bench/apps/one.py), next to ``python -c pass``, the floor of any command;
- boot: ``python -m bench._launch`` booting bench/apps/three.py up to its first call, against
  three client starts (``python -c "import hubcore; hubcore.connect"``) side by side.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench import APPS
from bench._procs import BenchError, read_line, stop, tail_text
from bench._stats import median

PYTHON = sys.executable
COMMAND_TIMEOUT = 60.0  # seconds for any one timed command; a hung one fails its measure


def time_command(argv: list[str], expect: str | None = None) -> float:
    """Wall seconds of ``argv`` run to completion; it must exit 0 (and print ``expect``).

    :raises BenchError: it failed, printed something else, or ran past COMMAND_TIMEOUT.
    """
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"{' '.join(argv)} did not finish within {COMMAND_TIMEOUT:.0f} s"
        ) from None
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited {done.returncode}\n{tail_text(done.stderr)}")
    if expect is not None and done.stdout.decode().strip() != expect:
        raise BenchError(f"{' '.join(argv)} printed {tail_text(done.stdout)!r}, not {expect!r}")
    return elapsed


def interleave(commands: Mapping[str, Callable[[], float]], runs: int) -> dict[str, Any]:
    """Run each command once untimed, then ``runs`` rounds of all of them in turn.

    :return: ``{"commands": {name: {"median_ms": ..., "runs_ms": [...]}}}``.
    """
    for command in commands.values():
        command()
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(command() * 1000)
    return {
        "commands": {name: {"median_ms": median(ms), "runs_ms": ms} for name, ms in samples.items()}
    }


def _with_ratio(figures: dict[str, Any], mine: str, theirs: str) -> dict[str, Any]:
    commands = figures["commands"]
    figures["ratio"] = commands[mine]["median_ms"] / commands[theirs]["median_ms"]
    figures["ratio_label"] = f"{mine} / {theirs}"
    return figures


#: What a client pays before its first call: ``import hubcore`` loads the errors only, and the
#: first use of ``hubcore.connect`` loads the client.
CLIENT_START = "import hubcore; hubcore.connect"


def measure_startup(runs: int) -> dict[str, Any]:
    """``import hubcore`` against ``import anyio, msgpack``, with a client's start beside."""
    commands = {
        "import hubcore": partial(time_command, [PYTHON, "-c", "import hubcore"]),
        "import anyio, msgpack": partial(time_command, [PYTHON, "-c", "import anyio, msgpack"]),
        CLIENT_START: partial(time_command, [PYTHON, "-c", CLIENT_START]),
        "python -c pass": partial(time_command, [PYTHON, "-c", "pass"]),
    }
    return _with_ratio(interleave(commands, runs), "import hubcore", "import anyio, msgpack")


def hubcore_command() -> list[str]:
    """The ``hubcore`` console script beside this interpreter, else ``python -m hubcore.cli``."""
    script = Path(PYTHON).with_name("hubcore")
    return [str(script)] if script.exists() else [PYTHON, "-m", "hubcore.cli"]


def _kill_daemon(rundir: Path) -> None:
    """Last resort when ``hubcore stop`` failed: kill the daemon of ``rundir`` and its tree."""
    try:
        pid = int((rundir / "supervisor.pid").read_text().split()[0])
        daemon = psutil.Process(pid)
        if str(rundir) not in " ".join(daemon.cmdline()):
            return  # not ours: the pid was reused
        tree = [daemon, *daemon.children(recursive=True)]
    except (OSError, ValueError, IndexError, psutil.Error):
        return
    for proc in tree:
        with suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(tree, timeout=10)


@contextmanager
def daemon_app(procfile: Path) -> Iterator[Path]:
    """``hubcore start`` the app in a fresh run directory; yield it; ``hubcore stop`` it."""
    rundir = Path(tempfile.mkdtemp(prefix="hcb-"))
    hubcore = hubcore_command()
    try:
        time_command([*hubcore, "start", str(procfile), "--rundir", str(rundir)])
        yield rundir
    finally:
        try:
            time_command([*hubcore, "stop", "--rundir", str(rundir)])
        except BenchError:
            _kill_daemon(rundir)
        shutil.rmtree(rundir, ignore_errors=True)


def measure_cli(runs: int) -> dict[str, Any]:
    """``hubcore ps`` and ``hubcore call`` against a running app, absolute ms."""
    hubcore = hubcore_command()
    with daemon_app(APPS / "one.py") as rundir:
        at = ["--rundir", str(rundir)]
        commands = {
            "hubcore ps": partial(time_command, [*hubcore, "ps", *at]),
            "hubcore call": partial(time_command, [*hubcore, "call", "echo.echo", "1", *at], "1"),
            "python -c pass": partial(time_command, [PYTHON, "-c", "pass"]),
        }
        figures = interleave(commands, runs)
    figures["hubcore"] = " ".join(hubcore)
    return figures


def boot_once() -> float:
    """Seconds from starting the launcher to its ``CALLED`` line; then wait for it to stop."""
    rundir = Path(tempfile.mkdtemp(prefix="hcb-"))
    argv = [PYTHON, "-m", "bench._launch", str(APPS / "three.py"), str(rundir)]
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            line = read_line(proc, COMMAND_TIMEOUT)
            elapsed = time.perf_counter() - start
            if line != "CALLED":
                raise BenchError(f"the boot launcher said {line!r}, not CALLED")
            proc.wait(COMMAND_TIMEOUT)  # it stops its app: not timed, but not overlapping either
        except (BenchError, subprocess.TimeoutExpired) as exc:
            stop(proc)
            stderr.seek(0)
            raise BenchError(f"boot: {exc}\n{tail_text(stderr.read())}") from None
        finally:
            stop(proc)
            shutil.rmtree(rundir, ignore_errors=True)
    return elapsed


def three_imports(code: str = "import hubcore") -> float:
    """Seconds to run three ``python -c CODE`` side by side, until all have exited."""
    argv = [PYTHON, "-c", code]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    try:
        errors = [proc.communicate(timeout=COMMAND_TIMEOUT)[1] for proc in procs]
        elapsed = time.perf_counter() - start
    except subprocess.TimeoutExpired:
        raise BenchError(
            f"{' '.join(argv)} did not finish within {COMMAND_TIMEOUT:.0f} s"
        ) from None
    finally:
        for proc in procs:
            stop(proc)
    for proc, stderr in zip(procs, errors, strict=True):
        if proc.returncode:
            raise BenchError(f"{' '.join(argv)} exited {proc.returncode}\n{tail_text(stderr)}")
    return elapsed


BOOT_BASE = "3 x client start, side by side"


def measure_boot(runs: int) -> dict[str, Any]:
    """A 3-process app from launcher start to first call, against three client starts side by
    side (``import hubcore`` alone, which loads nothing but the errors, is shown beside)."""
    commands = {
        "boot to first call": boot_once,
        BOOT_BASE: partial(three_imports, CLIENT_START),
        "3 x import hubcore, side by side": three_imports,
    }
    return _with_ratio(interleave(commands, runs), "boot to first call", BOOT_BASE)


def measure_whole(runs: int, boot_runs: int, only: set[str] | None = None) -> dict[str, Any]:
    """Every whole-process measure (or those in ``only``); a failed one is ``{"error": why}``."""
    measures: dict[str, Callable[[], dict[str, Any]]] = {
        "start-up": partial(measure_startup, runs),
        "cli": partial(measure_cli, runs),
        "boot": partial(measure_boot, boot_runs),
    }
    figures: dict[str, Any] = {}
    for name, measure in measures.items():
        if only is not None and name not in only:
            continue
        started = time.monotonic()
        print(f"  {name} ...", end="", file=sys.stderr, flush=True)
        try:
            figures[name] = measure()
        except BenchError as exc:
            figures[name] = {"error": str(exc)}
        print(f" {time.monotonic() - started:.1f} s", file=sys.stderr)
    return figures
