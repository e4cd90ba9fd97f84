"""The errors a client raises when a name is missing or a process died with calls in flight."""

from __future__ import annotations

from typing import Any, Protocol

from hubcore._errors import ConnectionLost, ObjectNotFound, ProcessCrashed, unknown_name

__all__ = ("Peer", "crashed", "dropped", "not_found")


class Peer(Protocol):
    """What the errors below need of a connection (async or blocking)."""

    label: str
    remote: dict[str, Any]
    close_reason: str


def not_found(
    name: str, instance: int | None, timeout: float | None, names: tuple[str, ...]
) -> ObjectNotFound:
    """The error of a name that nobody published within ``timeout`` (0: not even now)."""
    what = f"{name!r}" if instance is None else f"instance {instance} of {name!r}"
    published = ", ".join(names) if names else "nothing"
    if timeout == 0:
        head = f"no process publishes {what} now (get_proxy() would wait for it)"
    else:
        waited = f"{timeout:.3g}s" if timeout is not None else "ever"
        head = f"no process published {what} within {waited}"
    return ObjectNotFound(
        unknown_name(head, name, names, f"published now: {published}"),
        name=name,
        available=names,
    )


def dropped(conn: Peer) -> ConnectionLost | None:
    """The error of a connection that ended without GOODBYE because this side dropped it (the
    other end broke the protocol): not a crash. None if the other end vanished (a crash)."""
    if conn.close_reason.startswith("protocol violation"):
        return ConnectionLost(f"connection to {conn.label} dropped: {conn.close_reason}")
    return None


def crashed(conn: Peer, details: dict[str, Any]) -> ProcessCrashed:
    """The error of calls on a connection whose other end vanished without GOODBYE.

    :param details: what the hub knows of the process's end (``exit_info``), maybe nothing.
    """
    pid = conn.remote.get("pid")
    code, sig = details.get("exit_code"), details.get("signal")
    how = (
        f"killed by signal {sig}"
        if sig
        else f"exited with code {code}"
        if code is not None
        else "died"
    )
    tail = tuple(details.get("stderr_tail") or ())
    message = f"process {conn.label} {how} with calls in flight"
    if details.get("reason"):
        message += f" ({details['reason']})"
    if tail:
        message += "\nlast lines of its stderr:\n" + "\n".join(f"  {line}" for line in tail[-10:])
    return ProcessCrashed(
        message,
        process=str(conn.remote.get("process", "")),
        instance=int(conn.remote.get("instance") or 0),
        pid=pid if isinstance(pid, int) else None,
        exit_code=code,
        signal=sig,
        stderr_tail=tail,
        ended_at=details.get("ended_at"),
    )
