"""Per-test crash detection: which processes died during a test, and what a report says of
each: how it died, the calls that were in flight to it, and its last output."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

import hubcore

__all__ = ("Baseline", "Crash", "alive", "describe", "find_crashes", "in_flight_to")

NOT_SEEN = "died; how is not known (the supervisor had not seen its exit yet)"


@dataclass(frozen=True)
class Baseline:
    """A process as it was when the test started."""

    label: str
    pid: int | None
    restarts: int
    log_lines: int


@dataclass(frozen=True)
class Crash:
    """A process that died (or was replaced) during the test."""

    label: str
    name: str
    pid: int | None
    exit_code: int | None
    signal: int | None
    reason: str
    output: tuple[str, ...]
    ended_at: float | None = None  # time.time() the supervisor saw it die, if during the test


def alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    if pid is None:
        return False
    if _WAITID is not None:
        # The app's processes are children of this one: one system call tells, and WNOWAIT
        # leaves an exit status for the supervisor to collect. Others go to psutil.
        try:
            return _WAITID(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            pass
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


_WAITID = getattr(os, "waitid", None)  # not on every platform


def find_crashes(
    baselines: dict[str, Baseline],
    snapshots: Iterable[dict[str, Any]],
    logs: dict[str, list[str]],
    since: float = 0.0,
) -> list[Crash]:
    """Processes whose pid changed, that restarted, or whose pid is dead since the baseline
    (taken at ``since``, a ``time.time()``)."""
    crashes = []
    for snap in snapshots:
        label = f"{snap['name']}.{snap['instance']}"
        base = baselines.get(label)
        if base is None:
            continue
        died = snap.get("restarts", 0) > base.restarts or snap.get("pid") != base.pid
        if died or not alive(base.pid):
            output = tuple(logs.get(label, [])[base.log_lines :][-30:])
            crashes.append(_crash(label, snap, base.pid, output, since))
    return crashes


def _crash(
    label: str, snap: dict[str, Any], pid: int | None, output: tuple[str, ...], since: float
) -> Crash:
    ended_at = snap.get("ended_at")
    if ended_at is None or ended_at < since:
        # The supervisor has not seen this death yet: the exit facts are of an earlier one.
        return Crash(label, str(snap["name"]), pid, None, None, NOT_SEEN, output)
    exit_code, signal, reason = snap.get("exit_code"), snap.get("signal"), snap.get("reason")
    return Crash(
        label, str(snap["name"]), pid, exit_code, signal, str(reason or "died"), output, ended_at
    )


def in_flight_to(
    crash: Crash,
    records: Sequence[hubcore.CallRecord],
    pending: Sequence[hubcore.CallRecord] = (),
) -> list[hubcore.CallRecord]:
    """The calls that were in flight to the crashed process, oldest first.

    :param records: the test's finished calls: those to the process that failed with its
        death (outcome ``"crash"``), or that started before it died and ended after.
    :param pending: calls not ended yet (outcome ``"in flight"``): those to the process that
        started before it died (a later one waits for its restart).
    """

    def to_it(r: hubcore.CallRecord) -> bool:
        return f"{r.callee}.{r.callee_instance}" == crash.label

    died = crash.ended_at
    found = [
        r
        for r in records
        if to_it(r)
        and (r.outcome == "crash" or (died is not None and r.started <= died <= _end(r)))
    ]
    found += [r for r in pending if to_it(r) and (died is None or r.started <= died)]
    return sorted(found, key=lambda r: r.started)


def _end(record: hubcore.CallRecord) -> float:
    return record.started + record.duration


def describe(
    crash: Crash, calls: Sequence[hubcore.CallRecord] = (), *, expected: bool = False
) -> str:
    """What a report says about a crash: how the process died, the calls in flight to it
    (from :func:`in_flight_to`), its last output, and how to expect it (unless it was)."""
    how = (
        f"killed by signal {crash.signal}"
        if crash.signal
        else f"exit code {crash.exit_code}"
        if crash.exit_code is not None
        else crash.reason
    )
    during = "during the test (expected)" if expected else "during the test"
    lines = [f"hub process {crash.label} (pid {crash.pid}) died {during}: {how}"]
    if crash.reason and crash.reason not in how:
        lines.append(f"  reason: {crash.reason}")
    lines += _calls_in_flight(crash, calls)
    lines.append("  last output:" if crash.output else "  (no output)")
    lines += [f"    {line}" for line in crash.output]
    if not expected:
        lines.append(
            f"  (expected it? mark the test @pytest.mark.hub_allow_crash({crash.name!r}) "
            "or use hub_app.kill())"
        )
    return "\n".join(lines)


def _calls_in_flight(crash: Crash, calls: Sequence[hubcore.CallRecord]) -> list[str]:
    """A table of the calls in flight at the death: who made which call, how long it had
    been running when the process died, and how it ended."""
    if not calls:
        return ["  calls in flight to it: none recorded"]
    rows = [("caller", "call", "at the death", "then")]
    for r in calls:
        running = "-" if crash.ended_at is None else f"{max(crash.ended_at - r.started, 0):.2f} s"
        if r.outcome == hubcore.CallRecord.IN_FLIGHT:
            then = f"still waiting after {r.duration:.2f} s"
        else:
            then = f"{r.outcome} after {r.duration:.2f} s: {r.detail}"
        rows.append((f"{r.caller}.{r.caller_instance}", r.call_text(60), running, then[:100]))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = [
        "    " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[3]
        for row in rows
    ]
    return [f"  calls in flight to it ({len(calls)}):", *table]
