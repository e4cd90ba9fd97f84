"""What the supervisor knows of each process: its template, its state and its record.

Plain data, read by the app, the hub's process table and the CLI; the supervisor mutates the
records. The pidfile writer lives here too: it reads records and nothing else.
"""

from __future__ import annotations

import enum
import json
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from hubcore.app._spec import RestartPolicy

__all__ = (
    "LIVE_STATES",
    "ProcessRecord",
    "ProcessState",
    "ProcessTemplate",
    "record_exit",
    "write_pidfile",
)


@dataclass(frozen=True)
class ProcessTemplate:
    """How to run one process instance: command line, full environment and limits."""

    name: str
    instance: int
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str | None = None
    memory_limit: int | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)

    @property
    def label(self) -> str:
        """``"<name>.<instance>"``, the key of the process everywhere."""
        return f"{self.name}.{self.instance}"


class ProcessState(enum.Enum):
    """Where a process is in its lifecycle (see the module comment for transitions)."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"
    FAILED = "failed"


LIVE_STATES = frozenset({ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING})


@dataclass(eq=False)
class ProcessRecord:
    """What is known of one process; mutated by the supervisor only, read by anyone.

    ``pid``/``started_at`` describe the latest process (``None`` while STARTING); it is alive
    in STARTING/RUNNING/STOPPING only. ``exit_code``/``signal`` describe the latest exit and
    survive a restart; ``reason`` says why it last stopped or restarted.
    """

    template: ProcessTemplate
    state: ProcessState = ProcessState.STOPPED
    pid: int | None = None
    started_at: float | None = None  # time.time() of the spawn
    ended_at: float | None = None  # time.time() when the last exit was seen
    restarts: int = 0  # respawns after a crash or restart(); start() does not count
    exit_code: int | None = None
    signal: int | None = None  # number of the signal that ended it, if one did
    reason: str = ""
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=50))
    log: deque[str] = field(default_factory=lambda: deque(maxlen=2000))

    @property
    def label(self) -> str:
        """The template's label, ``"<name>.<instance>"``."""
        return self.template.label

    def snapshot(self) -> dict[str, Any]:
        """Plain values, ready for msgpack/JSON.

        :return: name, instance, state (its value), pid, started_at, uptime (seconds, ``None``
            unless alive), restarts, exit_code, signal, reason, stderr_tail (list).
        """
        alive = self.state in LIVE_STATES and self.started_at is not None
        uptime = time.time() - self.started_at if alive and self.started_at else None
        return {
            "name": self.template.name,
            "instance": self.template.instance,
            "state": self.state.value,
            "pid": self.pid,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "uptime": uptime,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "stderr_tail": list(self.stderr_tail),
        }


def record_exit(record: ProcessRecord, returncode: int) -> None:
    """Note how the record's process ended: ``exit_code``, or ``signal`` for a negative code.

    :param record: the record to update (``ended_at`` is set to now).
    :param returncode: the exit status as asyncio/trio report it, ``-signal`` if signalled.
    """
    record.ended_at = time.time()
    record.exit_code = returncode if returncode >= 0 else None
    record.signal = -returncode if returncode < 0 else None


# --- pidfile: orphans of an earlier supervisor ------------------------------------------------


def write_pidfile(path: Path, records: Iterable[ProcessRecord]) -> None:
    """Record ``{pid, create_time, label}`` of every live process, atomically.

    :param path: the JSON file, replaced as a whole.
    :param records: records; only those STARTING/RUNNING/STOPPING with a live pid are written.
    :raises OSError: the file could not be written.
    """
    entries = []
    for record in records:
        if record.pid is None or record.state not in LIVE_STATES:
            continue
        try:
            created = psutil.Process(record.pid).create_time()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        entries.append({"pid": record.pid, "create_time": created, "label": record.label})
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(json.dumps(entries, indent=1))
    os.replace(tmp, path)
