"""Plugin overhead: what ``hub_app`` and one sync proxy call add to a test, in ms.

An inner pytest session (a fresh process, in a temporary directory) runs N tests of each kind,
interleaved: (a) uses ``hub_app`` and calls ``proxy("echo").echo(1)``, (b) calls a local
object's ``echo(1)``. Its conftest times each test's whole protocol (setup + call + teardown)
with a hookwrapper around ``pytest_runtest_protocol``. The app (bench/apps/one.py) boots once,
in the first test of kind (a); the first SKIP tests of each kind and the last one (which holds
the session's teardown) are left out, and the figure is the difference of the medians.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import APPS
from bench._procs import BenchError, tail_text
from bench._stats import median

SKIP = 10  # tests of each kind left out at the start: imports, the boot, first connections
SESSION_TIMEOUT = 600.0

CONFTEST = '''
import json
import os
import time

import pytest

TIMES = []


def pytest_collection_modifyitems(items):
    """Interleave the kinds (hub, local, hub, ...): both share the machine's noise."""
    hub = [item for item in items if item.originalname == "test_hub"]
    local = [item for item in items if item.originalname == "test_local"]
    items[:] = [item for pair in zip(hub, local) for item in pair]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = time.perf_counter()
    try:
        return (yield)
    finally:
        TIMES.append([item.originalname, time.perf_counter() - start])


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_PLUGIN_TIMES"], "w") as out:
        json.dump(TIMES, out)
'''

TESTS = """
import os

import pytest

N = int(os.environ["BENCH_PLUGIN_TESTS"])


class Local:
    def echo(self, x):
        return x


LOCAL = Local()


@pytest.mark.parametrize("i", range(N))
def test_hub(i, hub_app, proxy):
    assert proxy("echo").echo(1) == 1


@pytest.mark.parametrize("i", range(N))
def test_local(i):
    assert LOCAL.echo(1) == 1
"""


def summarise(times: list[list[Any]], skip: int = SKIP) -> dict[str, Any]:
    """Medians per kind (ms) without the first ``skip`` and the last test of each kind.

    :raises BenchError: too few tests of a kind are left to take a median.
    """
    kinds = {"hub_app": "test_hub", "local": "test_local"}
    runs = {kind: [t * 1000 for name, t in times if name == test] for kind, test in kinds.items()}
    kept = {kind: ms[skip:-1] for kind, ms in runs.items()}
    if any(not ms for ms in kept.values()):
        raise BenchError(
            f"plugin: too few tests to time ({ {k: len(v) for k, v in runs.items()} })"
        )
    medians = {kind: median(ms) for kind, ms in kept.items()}
    return {
        "tests_per_kind": len(runs["hub_app"]),
        "left_out": f"first {skip} and last of each kind",
        "hub_app_ms": medians["hub_app"],
        "local_ms": medians["local"],
        "difference_ms": medians["hub_app"] - medians["local"],
        "runs_ms": runs,
    }


def _inner_session(tmp: Path, tests: int) -> list[list[Any]]:
    """Run the inner session in ``tmp``; return each test's ``[name, seconds]``.

    :raises BenchError: it failed or ran past SESSION_TIMEOUT.
    """
    times_file = tmp / "times.json"
    env = {**os.environ, "BENCH_PLUGIN_TIMES": str(times_file), "BENCH_PLUGIN_TESTS": str(tests)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    argv += ["-c", str(tmp / "pytest.ini"), "--rootdir", str(tmp)]
    argv += ["--hub-procfile", str(APPS / "one.py"), "test_overhead.py"]
    try:
        done = subprocess.run(
            argv,
            cwd=tmp,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=SESSION_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"plugin: the inner session ran past {SESSION_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        tail = tail_text(done.stdout, 15)
        raise BenchError(f"plugin: the inner session failed (exit {done.returncode})\n{tail}")
    times: list[list[Any]] = json.loads(times_file.read_text())
    return times


def measure_plugin(tests: int) -> dict[str, Any]:
    """Run the inner session with ``tests`` tests of each kind and summarise its timings."""
    tmp = Path(tempfile.mkdtemp(prefix="hcb-plugin-"))
    try:
        (tmp / "conftest.py").write_text(CONFTEST)
        (tmp / "test_overhead.py").write_text(TESTS)
        (tmp / "pytest.ini").write_text("[pytest]\n")
        return summarise(_inner_session(tmp, tests))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
