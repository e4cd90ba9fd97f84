"""The stop sequence of one supervised process: SIGTERM, a grace period, then the whole tree.

How it works (docs/lifecycle.md, "Stopping", steps 2-6):

1. the process's descendants are collected *before* any signal, so children re-parented while
   it shuts down are still known;
2. SIGTERM, then SIGCONT (a paused process must see its SIGTERM);
3. up to ``grace`` seconds for it to exit;
4. still running: SIGKILL it and its current descendants;
5. in every case: SIGKILL the descendants of step 1 and the process group, then wait (bounded)
   for the exit and record it.

The sequence is bounded by ``grace`` plus ``REAP_SECONDS``. The caller has made sure that no
restart follows the exit (the runner's ``stopping`` flag) before calling :func:`terminate`.
"""

from __future__ import annotations

import signal

import anyio
import anyio.abc
import psutil

from hubcore.app._proctree import descendants, kill_family, kill_group, kill_procs, send
from hubcore.app._records import ProcessRecord, record_exit

__all__ = ("REAP_SECONDS", "terminate")

REAP_SECONDS = 5.0  # after SIGKILL, how long to wait for the exit to be reported


async def terminate(
    record: ProcessRecord,
    process: anyio.abc.Process | None,
    proc: psutil.Process | None,
    grace: float,
) -> str:
    """Stop a process and whatever it started; return the reason to record.

    :param record: its record; the exit is recorded there.
    :param process: the process handle, or ``None`` if none was spawned.
    :param proc: the same process as psutil knows it (``None`` if it was gone at spawn).
    :param grace: seconds between SIGTERM and SIGKILL.
    :return: ``"stopped by SIGTERM"``, ``"stopped: still running ...s after SIGTERM, killed by
        SIGKILL"``, or ``"stopped"`` when nothing was running.
    """
    if process is None or proc is None or process.returncode is not None:
        if process is not None:  # died on its own meanwhile: clear its group all the same
            kill_group(process.pid, signal.SIGKILL)
            if process.returncode is not None:
                record_exit(record, process.returncode)
        return "stopped"
    tree = descendants(proc)  # before any signal: re-parented ones are still found
    send(proc, signal.SIGTERM)
    send(proc, signal.SIGCONT)  # a paused (SIGSTOPped) process must see its SIGTERM
    with anyio.move_on_after(grace):
        await process.wait()
    forced = process.returncode is None
    if forced:
        kill_family(proc, signal.SIGKILL)
    kill_procs(tree, signal.SIGKILL)
    kill_group(process.pid, signal.SIGKILL)
    with anyio.move_on_after(REAP_SECONDS):
        record_exit(record, await process.wait())
    if forced:
        return f"stopped: still running {grace:g}s after SIGTERM, killed by SIGKILL"
    return "stopped by SIGTERM"
