"""The hubcore error tree. Every error the library raises is a :class:`HubError`.

This module imports nothing from hubcore, so every layer can use it.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

__all__ = (
    "AuthenticationFailed",
    "BootFailed",
    "CallTimeout",
    "ConnectionLost",
    "HubError",
    "HubUnreachable",
    "ObjectNotFound",
    "PayloadTooLarge",
    "ProcessCrashed",
    "ProcfileError",
    "ProtocolError",
    "RemoteError",
    "describe",
    "did_you_mean",
    "reason",
    "remote_error",
    "unknown_name",
)


class HubError(Exception):
    """Root of every error raised by hubcore."""


# What an exception that carries no message means, by class name (the first along its MRO, so
# subclasses are covered; by name, so that this module imports nothing).
_MEANINGS = {
    "TimeoutError": "timed out",
    "ConnectionResetError": "the other end reset the connection",
    "BrokenPipeError": "the other end closed the connection",
    "ConnectionAbortedError": "the connection was aborted",
    "ConnectionRefusedError": "nothing accepts connections there",
    "BrokenResourceError": "the connection broke",
    "ClosedResourceError": "the connection was already closed on this side",
    "EndOfStream": "the other end closed the connection",
}


def reason(exc: BaseException) -> str:
    """Why ``exc`` was raised, to end a message with: never empty.

    Its message if it has one; else what its type means and its cause, with the type name:
    ``TimeoutError()`` gives ``"timed out (TimeoutError)"``.
    """
    text = str(exc)
    if text:
        return text
    explained = _explain(exc)
    return (
        f"{explained} ({type(exc).__name__})" if explained else f"{type(exc).__name__} (no message)"
    )


def describe(exc: BaseException) -> str:
    """``"ValueError: bad config"``, and for an exception without a message its type name and
    what it means (``"TimeoutError (timed out)"``), never a name followed by an empty text."""
    text, name = str(exc), type(exc).__name__
    if text:
        return f"{name}: {text}"
    explained = _explain(exc)
    return f"{name} ({explained})" if explained else name


def _explain(exc: BaseException) -> str:
    """What an exception without a message means, and its cause's reason ("" if neither)."""
    meaning = next(
        (_MEANINGS[c.__name__] for c in type(exc).__mro__ if c.__name__ in _MEANINGS), ""
    )
    cause = reason(exc.__cause__) if exc.__cause__ is not None else ""
    return ": ".join(filter(None, (meaning, cause)))


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'echo'?"`` for the known name closest to a mistyped ``name``.

    :return: the question, or ``""`` when no known name is close (difflib's similarity of 0.6
        or more) or ``name`` is itself known.
    """
    choices = list(dict.fromkeys(known))
    if name in choices:
        return ""  # the name is known: what is wrong is something else (an instance number)
    import difflib  # here: a process that never mistypes a name never pays for it

    close = difflib.get_close_matches(name, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def unknown_name(head: str, name: str, known: Iterable[str], listing: str) -> str:
    """The message for a name that is not known: what was not found, the closest known name
    if one is close, then what there is.

    ``unknown_name("'kv' has no remote method 'ech'", "ech", methods, "it has: echo, slow")``
    gives ``"'kv' has no remote method 'ech'; did you mean 'echo'? (it has: echo, slow)"``, and
    without a close name ``"...; it has: echo, slow"``.
    """
    hint = did_you_mean(name, known)
    return f"{head}; {hint} ({listing})" if hint else f"{head}; {listing}"


class CallTimeout(HubError, TimeoutError):
    """A call, lookup or boot step did not finish within its timeout.

    For a call, the callee's running method has been sent a CANCEL. ``call`` is the call that
    timed out (``"kv.slow"``) and ``remote_stack`` where its method was on the callee when its
    caller gave up: ``path:line in function: `code``` lines, innermost last (empty if the callee
    did not say: an older callee, or one whose event loop could not answer). A coroutine method
    was cancelled there; a plain method that held its process's event loop past the deadline
    cannot be, and goes on running: then ``remote_blocked`` is True.
    """

    call: str = ""
    remote_stack: tuple[str, ...] = ()
    remote_blocked: bool = False


class ObjectNotFound(HubError, LookupError):
    """No object is published under the requested name (after waiting for the timeout).

    ``available`` lists the names that are published.
    """

    def __init__(self, message: str, *, name: str = "", available: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.name = name
        self.available = available


class ConnectionLost(HubError):
    """The connection to the hub or to a peer closed while it was in use."""


class HubUnreachable(ConnectionLost):
    """The hub is gone, and did not come back within the timeout of what needed it.

    Raised by a client that reconnects (``connect(reconnect=True)``, the default) for a
    lookup, a publication or a call whose name it cannot resolve while the hub is down.
    ``address`` is the hub's socket, ``since`` the ``time.time()`` at which it was lost.
    """

    def __init__(self, message: str, *, address: str = "", since: float | None = None) -> None:
        super().__init__(message)
        self.address = address
        self.since = since


class CallNotTaken(ConnectionLost):
    """The other end closed the connection on purpose (GOODBYE) before it took this call.

    The call never ran, so a proxy sends it again, to the process that publishes the name
    next, within the same timeout. Internal (not in ``__all__``, not exported): proxies
    handle it, and anyone else sees a ``ConnectionLost``.
    """


class ProcessCrashed(ConnectionLost):
    """The process that owns an object died while a call to it was in flight.

    Raised at once for every call in flight on the dead process's connection, never after the
    call's timeout. Carries what the hub knows of the death.
    """

    def __init__(
        self,
        message: str,
        *,
        process: str = "",
        instance: int = 0,
        pid: int | None = None,
        exit_code: int | None = None,
        signal: int | None = None,
        stderr_tail: tuple[str, ...] = (),
        ended_at: float | None = None,
    ) -> None:
        super().__init__(message)
        self.process = process
        self.instance = instance
        self.pid = pid
        self.exit_code = exit_code
        self.signal = signal
        self.stderr_tail = stderr_tail
        self.ended_at = ended_at  # time.time() of the death, when a supervisor saw it


class AuthenticationFailed(HubError):
    """The token handshake or the peer-credential check refused a connection."""


class ProtocolError(HubError):
    """Bytes on a connection did not form valid frames; that connection is closed."""


class PayloadTooLarge(HubError):
    """A frame would exceed the size limit; nothing was sent."""

    def __init__(self, message: str, *, size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class RemoteError(HubError):
    """An exception raised by the remote method.

    ``remote_type`` is the qualified name of the remote exception class, ``remote_traceback``
    its formatted traceback, ``process``/``instance`` the publisher. When the remote type is a
    builtin exception, the raised object is also an instance of it (see :func:`remote_error`).
    ``remote_stack`` is, for a remote ``CallTimeout`` (a call the method made, in a chain),
    where that call's callee was waiting (as :attr:`CallTimeout.remote_stack`).
    """

    remote_stack: tuple[str, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        remote_type: str = "",
        remote_traceback: str = "",
        process: str = "",
        instance: int = 0,
        args: tuple[Any, ...] = (),
    ) -> None:
        HubError.__init__(self, message)
        self.message = message
        self.remote_type = remote_type
        self.remote_traceback = remote_traceback
        self.process = process
        self.instance = instance
        self.remote_args = args

    def __str__(self) -> str:
        where = f" in {self.process}.{self.instance}" if self.process else ""
        said = f": {self.message}" if self.message else " (raised without a message)"
        head = f"{self.remote_type}{where}{said}"
        if self.remote_traceback:
            return f"{head}\n\nRemote traceback:\n{self.remote_traceback.rstrip()}"
        return head

    def __reduce__(self) -> Any:
        return (_rebuild, (self.remote_type, self.message, self.__dict__.copy(), self.args))


_SUBCLASSES: dict[type[BaseException], type[RemoteError]] = {}


def _remote_class(base: type[BaseException]) -> type[RemoteError]:
    cls = _SUBCLASSES.get(base)
    if cls is None:
        # Named as hubcore names it (``hubcore.RemoteKeyError``, found by hubcore.__getattr__).
        cls = type(f"Remote{base.__name__}", (RemoteError, base), {"__module__": "hubcore"})
        _SUBCLASSES[base] = cls
    return cls


def remote_class_named(name: str) -> type[RemoteError] | None:
    """``RemoteKeyError`` -> the class remote ``KeyError``s are raised as, or None."""
    builtin = _builtin_exception(name[len("Remote") :]) if name.startswith("Remote") else None
    return _remote_class(builtin) if builtin is not None else None


def _builtin_exception(type_name: str) -> type[Exception] | None:
    obj = getattr(builtins, type_name, None)
    # Exception groups take (message, exceptions): no single-message stand-in can be one.
    if (
        isinstance(obj, type)
        and issubclass(obj, Exception)
        and not issubclass(obj, BaseExceptionGroup)
    ):
        return obj
    return None


def remote_error(
    remote_type: str,
    message: str,
    *,
    remote_traceback: str = "",
    process: str = "",
    instance: int = 0,
    args: tuple[Any, ...] = (),
    base: str = "",
    stack: tuple[str, ...] = (),
) -> RemoteError:
    """Build the local exception for a remote failure.

    :param remote_type: the remote class name; a builtin name such as ``"KeyError"`` yields an
        object that is both a :class:`RemoteError` and a ``KeyError``.
    :param base: the nearest builtin class of a user-defined remote type, used the same way.
    :return: the exception to raise.
    """
    builtin = _builtin_exception(remote_type) or _builtin_exception(base)
    cls = _remote_class(builtin) if builtin is not None else RemoteError
    err = cls(
        message,
        remote_type=remote_type,
        remote_traceback=remote_traceback,
        process=process,
        instance=instance,
        args=args,
    )
    if builtin is not None:
        # Let ``err.args`` look like the builtin's, e.g. KeyError('k').args == ('k',)
        err.args = args or (message,)
    if stack:
        err.remote_stack = stack
    return err


def _rebuild(
    remote_type: str, message: str, state: dict[str, Any], args: tuple[Any, ...] = ()
) -> RemoteError:
    err = remote_error(remote_type, message)
    err.__dict__.update(state)
    err.args = args
    return err


class ProcfileError(HubError):
    """A procfile could not be loaded: the message names the file and line at fault."""


class BootFailed(HubError):
    """An app did not boot: a service's ``start()`` raised, or a process did not come up.

    ``service``/``process`` name the culprit, ``remote_traceback`` holds its traceback text.
    """

    def __init__(
        self, message: str, *, service: str = "", process: str = "", remote_traceback: str = ""
    ) -> None:
        super().__init__(message)
        self.service = service
        self.process = process
        self.remote_traceback = remote_traceback
