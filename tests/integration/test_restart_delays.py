"""Restart delays and the crash loop, through a supervisor whose clock the test sets.

The process is a missing executable: every spawn fails, and a failed spawn is a crash, so the
supervisor goes round its restart loop at full speed without running anything. The injected
clock says when each crash happens (one reading per crash), so the crash-loop window does not
depend on how fast this machine is; the backoff sleeps are real but short. Each restart is
announced on the output stream (``...; restarting in 0.04s``): the tests read the delays there,
and check that the supervisor really waited that long in BACKOFF.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from hubcore.app._records import ProcessRecord, ProcessState, ProcessTemplate
from hubcore.app._spec import RestartPolicy
from hubcore.app._supervisor import Supervisor
from tests.conftest import ANYIO_BACKENDS

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

S = ProcessState
DELAY = re.compile(r"restarting in (\d+\.\d\d)s$")
EARLY = 0.005  # how much earlier than asked an event loop may wake a sleeper


@pytest.fixture(params=ANYIO_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


class CrashClock:
    """The supervisor's clock: reading ``n`` is the time of crash ``n``."""

    def __init__(self, times: Sequence[float]) -> None:
        self.times = list(times)
        self.reads = 0

    def __call__(self) -> float:
        if self.reads == len(self.times):
            raise AssertionError(f"the clock was read more than the {len(self.times)} crashes")
        self.reads += 1
        return self.times[self.reads - 1]


class Run:
    """A supervisor over one process that never spawns, with what it announced and when."""

    def __init__(self, tmp_path: Path, policy: RestartPolicy, crash_times: Sequence[float]):
        argv = (str(tmp_path / "no-such-binary"),)
        self.template = ProcessTemplate("missing", 0, argv, dict(os.environ), restart=policy)
        self.clock = CrashClock(crash_times)
        self.echo = io.StringIO()
        self.states: list[tuple[ProcessState, float]] = []

    def supervisor(self) -> Supervisor:
        return Supervisor(
            [self.template], on_change=self.seen, log_stream=self.echo, clock=self.clock
        )

    def seen(self, record: ProcessRecord) -> None:
        self.states.append((record.state, time.monotonic()))

    def delays(self) -> list[float]:
        """The delays announced on the output stream, in order."""
        found = (DELAY.search(line) for line in self.echo.getvalue().splitlines())
        return [float(m.group(1)) for m in found if m]

    def waits(self) -> list[float]:
        """How long each BACKOFF lasted, until the next spawn began (real seconds)."""
        starts = [t for state, t in self.states if state is S.BACKOFF]
        ends = [t for state, t in self.states if state is S.STARTING][1:]
        return [end - start for start, end in zip(starts, ends, strict=False)]


async def test_restart_delay_doubles_then_caps_then_the_crash_loop_fails(tmp_path: Path) -> None:
    """Five crashes a second apart within a 10 s window: 2x per restart, capped at
    backoff_max; the sixth crash is one more than max_restarts allows, so FAILED."""
    policy = RestartPolicy(backoff=0.02, backoff_max=0.08, max_restarts=5, within=10.0)
    run = Run(tmp_path, policy, crash_times=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    async with run.supervisor() as sup:
        record = await sup.wait_state("missing.0", S.FAILED, timeout=10)
    assert run.delays() == [0.02, 0.04, 0.08, 0.08, 0.08]
    assert all(w >= d - EARLY for w, d in zip(run.waits(), run.delays(), strict=True))
    assert record.restarts == 5
    assert record.reason.startswith("crash loop: 6 crashes within 10s (max_restarts=5); last: ")
    assert "; last: spawn failed: " in record.reason
    assert run.clock.reads == 6
    assert "*** crash loop: 6 crashes within 10s" in run.echo.getvalue()


async def test_restart_delay_window_forgets_old_restarts(tmp_path: Path) -> None:
    """Three quick crashes, then a long quiet spell (on the clock): the delay starts again
    from ``backoff``, and the crashes before the spell no longer count towards the loop."""
    policy = RestartPolicy(backoff=0.02, backoff_max=0.16, max_restarts=4, within=10.0)
    times = [0.0, 1.0, 2.0, 100.0, 101.0, 102.0, 103.0, 104.0]
    run = Run(tmp_path, policy, crash_times=times)
    async with run.supervisor() as sup:
        record = await sup.wait_state("missing.0", S.FAILED, timeout=10)
    assert run.delays() == [0.02, 0.04, 0.08, 0.02, 0.04, 0.08, 0.16]
    assert all(w >= d - EARLY for w, d in zip(run.waits(), run.delays(), strict=True))
    assert record.restarts == 7
    assert record.reason.startswith("crash loop: 5 crashes within 10s (max_restarts=4)")


async def test_restart_delay_crashes_spread_wider_than_the_window_never_fail(
    tmp_path: Path,
) -> None:
    """A crash every 6 s with a 10 s window: at most one earlier restart ever counts."""
    policy = RestartPolicy(backoff=0.01, backoff_max=1.0, max_restarts=2, within=10.0)
    run = Run(tmp_path, policy, crash_times=[6.0 * n for n in range(1000)])
    async with run.supervisor() as sup:
        await sup.wait_until("missing.0", lambda r: r.restarts >= 7, timeout=10)
        await sup.stop()
        record = sup.records["missing.0"]
    assert run.delays()[:7] == [0.01, 0.02, 0.02, 0.02, 0.02, 0.02, 0.02]
    assert set(run.delays()[1:]) == {0.02}
    assert record.state is S.STOPPED


async def test_restart_delay_start_forgets_the_crash_loop(tmp_path: Path) -> None:
    """start() on a FAILED process runs it with a clean history: delays from ``backoff``."""
    policy = RestartPolicy(backoff=0.02, backoff_max=1.0, max_restarts=2, within=10.0)
    run = Run(tmp_path, policy, crash_times=[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    async with run.supervisor() as sup:
        await sup.wait_state("missing.0", S.FAILED, timeout=10)
        await sup.start("missing")
        record = await sup.wait_state("missing.0", S.FAILED, timeout=10)
    assert run.delays() == [0.02, 0.04, 0.02, 0.04]
    assert record.reason.startswith("crash loop: 3 crashes within 10s (max_restarts=2)")
