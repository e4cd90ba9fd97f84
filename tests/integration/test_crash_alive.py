"""How pytest_hub tells a live process from a dead one, before and after every test."""

from __future__ import annotations

import os
import signal

import pytest

from pytest_hub._crash import alive
from tests.conftest import Spawner

pytestmark = pytest.mark.timeout(30)


def test_alive_tells_a_dead_child_without_taking_its_exit_status(spawn: Spawner) -> None:
    """A child that died is not alive while still a zombie, and its parent (the supervisor,
    in the plugin) still collects its exit status afterwards."""
    child = spawn.python("-c", "import time; time.sleep(60)")
    assert alive(child.pid)
    os.kill(child.pid, signal.SIGSTOP)
    assert alive(child.pid)  # paused is alive
    os.kill(child.pid, signal.SIGKILL)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # dead, and left as a zombie
    assert not alive(child.pid)
    assert child.wait(timeout=5) == -signal.SIGKILL
    assert not alive(child.pid)  # reaped


def test_alive_of_other_processes() -> None:
    assert alive(os.getppid())  # not a child of this process
    assert not alive(None)
