"""``hubcore ps``'s figures, on real processes: CPU% from a short sample tells a busy process
from an idle one, whether the sample starts when the figures are asked for or earlier."""

from __future__ import annotations

import subprocess

import psutil
import pytest

from hubcore.cli._inspect import _read, measure
from tests.conftest import Spawner

pytestmark = [pytest.mark.timeout(60)]

BUSY = "print('up', flush=True)\nwhile True: pass"
IDLE = "import time; print('up', flush=True); time.sleep(60)"


def _started(spawn: Spawner, code: str) -> tuple[int, float]:
    """Start a process and return once its interpreter is up (its start-up CPU is behind it;
    bounded by the test's timeout)."""
    proc = spawn.python("-c", code, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"up\n"
    return proc.pid, psutil.Process(proc.pid).create_time()


@pytest.mark.parametrize("early", [False, True], ids=["sampled-now", "sampled-earlier"])
def test_ps_cpu_tells_a_busy_process_from_an_idle_one(spawn: Spawner, early: bool) -> None:
    busy, busy_at = _started(spawn, BUSY)
    idle, idle_at = _started(spawn, IDLE)
    samples = []
    # A whole CPU when the busy process gets one. A machine busy with other work may give it
    # little of a 0.05 s sample: some of ten samples must show a good part of a CPU.
    for _ in range(10):
        readings = _read([psutil.Process(busy), psutil.Process(idle)]) if early else None
        samples.append(measure({busy: busy_at, idle: idle_at}, readings))
        if samples[-1][busy][1] > 20:
            break
    assert samples[-1][busy][1] > 20, samples
    assert all(usage[idle][1] < 5 for usage in samples), samples
    assert all(usage[pid][0] > 1 << 20 for usage in samples for pid in (busy, idle))


def test_ps_figures_skip_a_recycled_pid(spawn: Spawner) -> None:
    pid, started_at = _started(spawn, IDLE)
    assert measure({pid: started_at - 60}) == {}  # a process born a minute "too late"
