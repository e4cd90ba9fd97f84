"""What ``hubcore dev --trace`` records: every drained call ends up in the file, even one
drained while the app stops (the processes forget what they hand over). A stand-in app
hands out the records."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

import hubcore
from hubcore.cli._trace import TraceRecorder

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def rec(n: int) -> hubcore.CallRecord:
    return hubcore.CallRecord(
        "web", 0, "background", 0, "page", "take", (n,), {}, "result", "None", 1e9 + n, 0.1
    )


class DrainingApp:
    """Hands out one batch of records per drain; the first drain waits for ``release``."""

    def __init__(self, *batches: list[hubcore.CallRecord]) -> None:
        self.batches = list(batches)
        self.waiting = anyio.Event()
        self.release = anyio.Event()
        self.drains = 0

    async def drain_calls(self) -> list[hubcore.CallRecord]:
        self.drains += 1
        if self.drains == 1:
            self.waiting.set()
            await self.release.wait()
        return self.batches.pop(0) if self.batches else []


def _calls(path: Path) -> list[str]:
    events = json.loads(path.read_text())["traceEvents"]
    return [e["args"]["call"] for e in events if e.get("ph") == "X" and e["name"] == "page.take"]


async def test_a_drain_under_way_when_the_app_stops_is_kept(tmp_path: Path) -> None:
    app = DrainingApp([rec(1)], [rec(2)])
    said: list[str] = []
    recorder = TraceRecorder(tmp_path / "t.json", said.append, interval=0.001)
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run, app)
        with anyio.fail_after(10):
            await app.waiting.wait()  # a periodic drain is under way
        tg.start_soon(recorder.finish, app)
        await anyio.wait_all_tasks_blocked()  # the stop waits for it
        app.release.set()
    assert _calls(tmp_path / "t.json") == ["page.take(1)", "page.take(2)"]
    assert said == [
        f"hubcore: trace of 2 cross-process calls written to {tmp_path / 't.json'} "
        f"(view: hubcore trace view {tmp_path / 't.json'})"
    ]


async def test_a_recorder_stopped_before_its_first_drain_still_writes(tmp_path: Path) -> None:
    app = DrainingApp([rec(1)])
    app.release.set()
    recorder = TraceRecorder(tmp_path / "t.json", lambda line: None, interval=60)
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run, app)
        await recorder.finish(app)
    assert _calls(tmp_path / "t.json") == ["page.take(1)"]
    assert app.drains == 1
