"""Caller processes under load, and the books the chaos tests keep of their calls."""

from __future__ import annotations

import collections
import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from tests.conftest import Spawner

HERE = Path(__file__).parent
APP = HERE / "app"
CALLER = HERE / "caller.py"

#: The outcomes a call may have under chaos: a result, or one of these typed errors.
TYPED_ERRORS = {"CallTimeout", "ProcessCrashed", "ConnectionLost", "HubUnreachable"}


@dataclass
class Caller:
    """One caller process and the file it writes its calls to."""

    proc: subprocess.Popen[bytes]
    out: Path

    async def line(self, timeout: float) -> str:
        """The next line of its stdout; fails with its stderr if it ended instead."""
        assert self.proc.stdout is not None
        with anyio.fail_after(timeout):
            line = await anyio.to_thread.run_sync(self.proc.stdout.readline, abandon_on_cancel=True)
        if not line:
            raise AssertionError(f"caller {self.out.name} ended: {self.tail()}")
        return line.decode().strip()

    def tail(self) -> str:
        log = Path(f"{self.out}.log")
        return log.read_text()[-2000:] if log.exists() else "(no log)"


async def start_callers(
    spawn: Spawner,
    env: dict[str, str],
    backends: Iterable[str],
    folder: Path,
    *,
    seconds: float,
    in_flight: int,
    timeout: float,
) -> list[Caller]:
    """Start one caller per backend and return once each has its proxy (READY)."""
    callers = []
    for number, backend in enumerate(backends):
        out = folder / f"calls-{number}-{backend}.jsonl"
        args = [str(CALLER), f"c{number}", backend, str(seconds), str(in_flight), str(timeout)]
        proc = spawn.python(*args, str(out), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        callers.append(Caller(proc, out))
    for caller in callers:
        assert await caller.line(timeout=30) == "READY"
    return callers


def go(callers: Iterable[Caller]) -> None:
    """Let every caller start calling (they wait for a line on stdin)."""
    for caller in callers:
        assert caller.proc.stdin is not None
        caller.proc.stdin.write(b"go\n")
        caller.proc.stdin.flush()


def stop(callers: Iterable[Caller]) -> None:
    """Tell every caller to start no new call (it ends when its calls in flight have ended)."""
    go(callers)  # the same: one more line


async def wait_done(callers: Iterable[Caller], timeout: float) -> None:
    with anyio.fail_after(timeout):
        for caller in callers:
            assert await caller.line(timeout) == "DONE"
            await anyio.to_thread.run_sync(caller.proc.wait, abandon_on_cancel=True)
            assert caller.proc.returncode == 0, caller.tail()


@dataclass
class Books:
    """Every call the callers made, and every call the callees wrote down as run."""

    calls: list[list[Any]] = field(default_factory=list)  # [token, outcome, seconds, detail]
    ran: dict[int, list[str]] = field(default_factory=dict)  # callee pid -> tokens it ran

    @classmethod
    def read(cls, callers: Iterable[Caller], ledger: Path) -> Books:
        books = cls()
        for caller in callers:
            books.calls += [json.loads(line) for line in caller.out.read_text().splitlines()]
        for path in ledger.glob("ran-*.log"):
            books.ran[int(path.stem.removeprefix("ran-"))] = path.read_text().split()
        return books

    def outcomes(self) -> collections.Counter[str]:
        return collections.Counter(outcome for _, outcome, _, _ in self.calls)

    def ran_twice(self) -> list[str]:
        counts = collections.Counter(t for tokens in self.ran.values() for t in tokens)
        return sorted(token for token, count in counts.items() if count > 1)

    def wrong_results(self) -> list[list[Any]]:
        """Results that are not the answer to their call, or that no callee wrote down."""
        ran = {pid: set(tokens) for pid, tokens in self.ran.items()}
        return [
            call
            for call in self.calls
            if call[1] == "result"
            and (call[3]["token"] != call[0] or call[0] not in ran.get(call[3]["pid"], ()))
        ]

    def untyped(self) -> list[list[Any]]:
        return [call for call in self.calls if call[1] not in TYPED_ERRORS | {"result"}]

    def slowest(self) -> float:
        return max(seconds for _, _, seconds, _ in self.calls)

    def summary(self) -> str:
        outcomes = ", ".join(f"{name} {count}" for name, count in self.outcomes().most_common())
        return (
            f"{len(self.calls)} calls ({outcomes}); {len(self.ran)} callee processes ran "
            f"{sum(map(len, self.ran.values()))} of them; slowest call {self.slowest():.2f} s"
        )
