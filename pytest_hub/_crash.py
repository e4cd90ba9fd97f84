"""Per-test crash detection: which processes died during a test that did not expect it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

__all__ = ("Baseline", "Crash", "alive", "describe", "find_crashes")


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
    baselines: dict[str, Baseline], snapshots: Iterable[dict[str, Any]], logs: dict[str, list[str]]
) -> list[Crash]:
    """Processes whose pid changed, that restarted, or whose pid is dead since the baseline."""
    crashes = []
    for snap in snapshots:
        label = f"{snap['name']}.{snap['instance']}"
        base = baselines.get(label)
        if base is None:
            continue
        died = snap.get("restarts", 0) > base.restarts or snap.get("pid") != base.pid
        if died or not alive(base.pid):
            output = tuple(logs.get(label, [])[base.log_lines :][-30:])
            crashes.append(
                Crash(
                    label,
                    str(snap["name"]),
                    base.pid,
                    snap.get("exit_code"),
                    snap.get("signal"),
                    str(snap.get("reason") or "died"),
                    output,
                )
            )
    return crashes


def describe(crash: Crash) -> str:
    """What a report says about a crash."""
    how = (
        f"killed by signal {crash.signal}"
        if crash.signal
        else f"exit code {crash.exit_code}"
        if crash.exit_code is not None
        else crash.reason
    )
    lines = [f"hub process {crash.label} (pid {crash.pid}) died during the test: {how}"]
    if crash.reason and crash.reason not in how:
        lines.append(f"  reason: {crash.reason}")
    lines.append("  last output:" if crash.output else "  (no output)")
    lines += [f"    {line}" for line in crash.output]
    lines.append(
        f"  (expected it? mark the test @pytest.mark.hub_allow_crash({crash.name!r}) "
        "or use hub_app.kill())"
    )
    return "\n".join(lines)
