"""Process trees, synchronously through psutil: kill a tree, measure it, sweep leftovers.

Every signal goes through a ``psutil.Process``, which checks that a pid still names the same
process (its create_time), so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
from collections.abc import Iterable
from pathlib import Path

import psutil

from hubcore._errors import reason

__all__ = (
    "descendants",
    "describe_exit",
    "kill_family",
    "kill_tree",
    "sweep_pidfile",
    "tree_memory",
)

logger = logging.getLogger("hubcore.supervisor")

_CREATE_TIME_SLACK = 0.05  # create_time has clock-tick (10 ms) resolution


def send(proc: psutil.Process, sig: int) -> bool:
    # psutil checks the pid still names the same process (create_time), so a recycled pid
    # is never signalled.
    try:
        proc.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return True


def descendants(proc: psutil.Process | None) -> list[psutil.Process]:
    if proc is None:
        return []
    try:
        return proc.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def kill_group(pgid: int, sig: int) -> None:
    # Never our own group. A group id cannot be handed to a new process while the group has
    # members, so this reaches only what is left of the group the dead leader started.
    if pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_procs(procs: Iterable[psutil.Process], sig: int) -> list[int]:
    return [proc.pid for proc in procs if send(proc, sig)]


def kill_family(root: psutil.Process | None, sig: int) -> list[int]:
    return kill_procs([root, *descendants(root)] if root is not None else [], sig)


def kill_tree(pid: int, sig: int = signal.SIGKILL, *, include_group: bool = True) -> list[int]:
    """Send ``sig`` to a process and all its descendants (collected before signalling).

    :param pid: the root of the tree; it may already be gone (then only its group is reached).
    :param sig: the signal, SIGKILL by default.
    :param include_group: also ``killpg`` the group led by ``pid`` (reaches members that were
        re-parented away from the tree). Never applied to the caller's own group.
    :return: the pids that were signalled (group members reached only by ``killpg`` excluded).
    """
    try:
        root: psutil.Process | None = psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        root = None
    signalled = kill_family(root, sig)
    if include_group:
        kill_group(pid, sig)
    return signalled


def tree_memory(proc: psutil.Process) -> tuple[str, int]:
    """RSS of a lone process; PSS summed over a tree, whose members share pages (a browser's
    processes share most of theirs: summed RSS counts them once per process)."""
    members = [proc, *descendants(proc)]
    if len(members) == 1:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            return "RSS", proc.memory_info().rss
        return "RSS", 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_full_info().pss
    return f"PSS of {len(members)} processes", total


def describe_exit(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def sweep_pidfile(path: Path) -> list[int]:
    """SIGKILL the trees of processes an earlier supervisor left behind, then remove the file.

    An entry is acted on only if its pid is alive *and* has the recorded create_time, so a
    recycled pid is never killed. A missing or unreadable file sweeps nothing.

    :param path: a file written by :func:`write_pidfile`.
    :return: the pids signalled (leftovers and their descendants).
    """
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable pidfile %s: %s", path, reason(exc))
        return []
    killed: list[int] = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            proc = psutil.Process(int(entry["pid"]))
            same = abs(proc.create_time() - float(entry["create_time"])) <= _CREATE_TIME_SLACK
        except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, TypeError, ValueError):
            continue
        if same and proc.pid != os.getpid():
            logger.warning("killing leftover %s (pid %d)", entry.get("label", "?"), proc.pid)
            killed += kill_tree(proc.pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return killed
