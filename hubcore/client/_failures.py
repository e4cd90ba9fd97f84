"""The errors a client raises when a name is missing or a process died with calls in flight."""

from __future__ import annotations

from typing import Any

from hubcore._errors import ObjectNotFound, ProcessCrashed, unknown_name
from hubcore.rpc._connection import Connection

__all__ = ("crashed", "not_found")


def not_found(
    name: str, instance: int | None, timeout: float | None, names: tuple[str, ...]
) -> ObjectNotFound:
    what = f"{name!r}" if instance is None else f"instance {instance} of {name!r}"
    published = ", ".join(names) if names else "nothing"
    waited = f"{timeout:.3g}s" if timeout is not None else "ever"
    head = f"no process published {what} within {waited}"
    return ObjectNotFound(
        unknown_name(head, name, names, f"published now: {published}"),
        name=name,
        available=names,
    )


def crashed(conn: Connection, details: dict[str, Any]) -> ProcessCrashed:
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
