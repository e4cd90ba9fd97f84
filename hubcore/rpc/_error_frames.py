"""ERROR frames both ways: an exception a served call raised -> the frame sent back, and a
received frame -> the :class:`~hubcore.RemoteError` the caller raises.

The frame keeps what the caller needs to catch the error by type: the class name and, for a
user exception, its nearest builtin base (``ValueError`` for ``class PageError(ValueError)``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hubcore._errors import CallTimeout, PayloadTooLarge, RemoteError, remote_error
from hubcore.protocol import DEFAULT_MAX_FRAME, Error, encode_frame

__all__ = ("encode_error", "error_frame", "exception_frame", "raised_error")

ARG_REPR_LIMIT = 200  # characters of each repr that replaces an argument that can't be sent


def error_frame(
    cid: int,
    type_name: str,
    message: str,
    *,
    tb: str = "",
    args: tuple[Any, ...] = (),
    base: str = "",
    identity: tuple[str, int] = ("", 0),
    stack: tuple[str, ...] = (),
) -> Error:
    """The ERROR frame for call ``cid``.

    :param base: the nearest builtin class of a user exception; the type itself by default.
    :param identity: the process name and instance that raised it.
    :param stack: where a cancelled method was waiting (the answer to a CANCEL).
    """
    process, instance = identity
    return Error(cid, type_name, message, tb, args, process, instance, base or type_name, stack)


def exception_frame(cid: int, exc: Exception, identity: tuple[str, int] = ("", 0)) -> Error:
    """The ERROR frame for an exception a served call raised, its traceback text included."""
    import traceback  # here: a process that only calls never formats a traceback

    tb = "".join(traceback.format_exception(exc))
    return error_frame(
        cid,
        type(exc).__name__,
        str(exc),
        tb=tb,
        args=exc.args,
        base=_builtin_base(exc),
        identity=identity,
        stack=exc.remote_stack if isinstance(exc, CallTimeout) else (),
    )


def encode_error(frame: Error, *, max_size: int = DEFAULT_MAX_FRAME) -> bytes:
    """Encode ``frame``; arguments that cannot be sent are replaced by their (cut) reprs.

    :raises PayloadTooLarge: the frame is too large even so (a huge message or traceback).
    """
    try:
        return encode_frame(frame, max_size=max_size)
    except (TypeError, PayloadTooLarge):
        args = tuple(repr(a)[:ARG_REPR_LIMIT] for a in frame.args)
        return encode_frame(replace(frame, args=args), max_size=max_size)


def raised_error(frame: Error, process: str = "") -> RemoteError:
    """The exception a caller raises for a received ERROR frame.

    :param process: the callee's process name, if the frame does not say.
    :return: a :class:`~hubcore.RemoteError`, also an instance of the remote builtin type.
    """
    return remote_error(
        frame.type_name,
        frame.message,
        base=frame.base,
        remote_traceback=frame.traceback,
        process=frame.process or process,
        instance=frame.instance,
        args=frame.args,
        stack=frame.stack,
    )


def _builtin_base(exc: Exception) -> str:
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls.__name__
    return ""
