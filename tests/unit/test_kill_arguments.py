"""``kill(process, instance=0, *, sig=SIGKILL)``: one argument order everywhere, and a signal
passed where the instance goes is refused before anything is signalled. No process runs:
nothing is booted, and the refusal comes first."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from hubcore.app._app import App
from hubcore.app._records import ProcessTemplate
from hubcore.app._supervisor import Supervisor

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

BASIC = Path(__file__).resolve().parents[1] / "apps" / "basic"
SAYS = r"kill\('background', signal.SIGTERM\): the second argument is the instance; pass the "
SAYS += r"signal by keyword: kill\('background', sig=signal.SIGTERM\)"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_app_kill_refuses_a_signal_as_the_instance() -> None:
    app = App(BASIC)
    with pytest.raises(TypeError, match=SAYS):
        await app.kill("background", signal.SIGTERM)


async def test_app_kill_takes_the_signal_by_keyword_only() -> None:
    app = App(BASIC)
    with pytest.raises(TypeError, match="positional argument"):
        await app.kill("background", 0, signal.SIGTERM)  # type: ignore[call-arg]


async def test_supervisor_kill_refuses_a_signal_as_the_instance() -> None:
    template = ProcessTemplate("background", 0, (sys.executable,), dict(os.environ))
    supervisor = Supervisor([template])  # never entered: nothing runs
    with pytest.raises(TypeError, match=SAYS):
        await supervisor.kill("background", signal.SIGTERM)
    with pytest.raises(TypeError, match="positional argument"):
        await supervisor.kill("background", 0, signal.SIGTERM)  # type: ignore[call-arg]
