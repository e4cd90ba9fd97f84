"""The error tree and the mapping of remote exceptions onto local ones."""

from __future__ import annotations

import builtins
import pickle
from collections.abc import Iterable

import anyio
import pytest

import hubcore
from hubcore import _errors
from hubcore._errors import (
    BootFailed,
    CallTimeout,
    ConnectionLost,
    HubError,
    HubUnreachable,
    ObjectNotFound,
    PayloadTooLarge,
    ProcessCrashed,
    RemoteError,
    describe,
    did_you_mean,
    reason,
    remote_error,
    unknown_name,
)
from hubcore.transport._mapping import map_exceptions

ERROR_CLASSES = [
    getattr(_errors, name)
    for name in _errors.__all__
    if isinstance(getattr(_errors, name), type) and name != "HubError"
]

BUILTIN_EXCEPTIONS = sorted(
    name
    for name, obj in vars(builtins).items()
    if isinstance(obj, type)
    and issubclass(obj, Exception)
    and not issubclass(obj, BaseExceptionGroup)
)

TRACEBACK = "Traceback (most recent call last):\n  File \"svc.py\", line 3\nKeyError: 'k'\n"


def _roundtrip(err: BaseException) -> BaseException:
    return pickle.loads(pickle.dumps(err))


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_errors_every_class_subclasses_hub_error(cls: type[Exception]) -> None:
    assert issubclass(cls, HubError)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_errors_every_class_is_exported_from_hubcore(cls: type[Exception]) -> None:
    assert getattr(hubcore, cls.__name__) is cls


def test_errors_call_timeout_is_a_timeout_error() -> None:
    assert issubclass(CallTimeout, TimeoutError)
    with pytest.raises(TimeoutError):
        raise CallTimeout("call took too long")


def test_errors_object_not_found_is_a_lookup_error_with_details() -> None:
    err = ObjectNotFound("no 'db'", name="db", available=("cache", "web"))
    assert isinstance(err, LookupError)
    assert not isinstance(err, KeyError)
    assert (err.name, err.available) == ("db", ("cache", "web"))


def test_errors_process_crashed_is_a_connection_lost() -> None:
    assert issubclass(ProcessCrashed, ConnectionLost)


def test_errors_payload_too_large_carries_size_and_limit() -> None:
    err = PayloadTooLarge("too big", size=11, limit=10)
    assert (err.size, err.limit, str(err)) == (11, 10, "too big")


def test_errors_remote_key_error_is_key_error_and_remote_error() -> None:
    err = remote_error(
        "KeyError", "'k'", remote_traceback=TRACEBACK, process="worker", instance=2, args=("k",)
    )
    assert isinstance(err, KeyError)
    assert isinstance(err, RemoteError)
    assert isinstance(err, HubError)
    assert err.args == ("k",)
    assert err.remote_args == ("k",)
    assert (err.remote_type, err.message) == ("KeyError", "'k'")
    assert (err.process, err.instance) == ("worker", 2)
    assert err.remote_traceback == TRACEBACK
    with pytest.raises(KeyError):
        raise err


def test_errors_remote_builtin_args_default_to_the_message() -> None:
    assert remote_error("ValueError", "bad value").args == ("bad value",)


def test_errors_remote_builtin_class_is_reused() -> None:
    assert type(remote_error("KeyError", "a")) is type(remote_error("KeyError", "b"))


@pytest.mark.parametrize("name", BUILTIN_EXCEPTIONS)
def test_errors_remote_builtin_exception_is_an_instance_of_it(name: str) -> None:
    """Every builtin Exception but exception groups (see the next test)."""
    err = remote_error(name, "boom", process="p")
    assert isinstance(err, getattr(builtins, name))
    assert isinstance(err, RemoteError)
    assert "boom" in str(err)


def test_errors_remote_exception_group_is_a_plain_remote_error() -> None:
    """An ExceptionGroup needs its sub-exceptions, which do not cross: it stays a RemoteError
    (anyio task groups raise those, so building the local error must not fail)."""
    err = remote_error("ExceptionGroup", "boom (1 sub-exception)", remote_traceback=TRACEBACK)
    assert type(err) is RemoteError
    assert "boom" in str(err)


@pytest.mark.parametrize(
    "name",
    ["mymod.CustomError", "CustomError", "", "print", "int", "KeyboardInterrupt", "SystemExit"],
)
def test_errors_remote_non_builtin_exception_is_plain_remote_error(name: str) -> None:
    """Unknown names, non-exceptions and BaseException-only types never become local ones."""
    err = remote_error(name, "boom", args=(1, 2))
    assert type(err) is RemoteError
    assert err.remote_type == name
    assert err.remote_args == (1, 2)
    assert err.args == ("boom",)


def test_errors_remote_error_str_shows_process_and_remote_traceback() -> None:
    err = remote_error("KeyError", "'k'", remote_traceback=TRACEBACK, process="worker", instance=2)
    text = str(err)
    assert text.startswith("KeyError in worker.2: 'k'")
    assert "Remote traceback:" in text
    assert TRACEBACK.rstrip() in text


def test_errors_remote_error_str_without_process_or_traceback() -> None:
    assert str(remote_error("app.Oops", "went wrong")) == "app.Oops: went wrong"


def test_errors_remote_error_str_without_a_message_does_not_end_with_a_colon() -> None:
    err = remote_error("TimeoutError", "", remote_traceback=TRACEBACK, process="worker")
    assert str(err).startswith("TimeoutError in worker.0 (raised without a message)\n")


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "expected_reason", "expected_description"),
    [
        pytest.param(
            ValueError("bad config"), "bad config", "ValueError: bad config", id="message"
        ),
        pytest.param(
            TimeoutError(), "timed out (TimeoutError)", "TimeoutError (timed out)", id="timeout"
        ),
        pytest.param(
            ConnectionResetError(),
            "the other end reset the connection (ConnectionResetError)",
            "ConnectionResetError (the other end reset the connection)",
            id="reset",
        ),
        pytest.param(
            _caused(anyio.BrokenResourceError(), BrokenPipeError(32, "Broken pipe")),
            "the connection broke: [Errno 32] Broken pipe (BrokenResourceError)",
            "BrokenResourceError (the connection broke: [Errno 32] Broken pipe)",
            id="broken-with-cause",
        ),
        pytest.param(
            _caused(RuntimeError(), KeyError("k")),
            "'k' (RuntimeError)",
            "RuntimeError ('k')",
            id="unknown-with-cause",
        ),
        pytest.param(RuntimeError(), "RuntimeError (no message)", "RuntimeError", id="unknown"),
    ],
)
def test_errors_reason_and_description_are_never_empty(
    exc: BaseException, expected_reason: str, expected_description: str
) -> None:
    assert reason(exc) == expected_reason
    assert describe(exc) == expected_description


@pytest.mark.parametrize(
    "exc",
    [anyio.BrokenResourceError(), anyio.ClosedResourceError(), ConnectionResetError()],
    ids=lambda e: type(e).__name__,
)
def test_errors_transport_failures_without_a_message_still_say_why(exc: Exception) -> None:
    """``ConnectionLost: send failed:`` used to end there for exceptions with an empty str()."""
    with pytest.raises(ConnectionLost) as lost, map_exceptions("send failed"):
        raise exc
    assert str(lost.value) == f"send failed: {reason(exc)}"
    assert reason(exc).endswith(f"({type(exc).__name__})")


@pytest.mark.parametrize("name", ["KeyError", "ValueError", "OSError", "app.CustomError"])
def test_errors_remote_error_pickle_round_trip_keeps_type_and_attributes(name: str) -> None:
    err = remote_error(
        name, "boom", remote_traceback=TRACEBACK, process="worker", instance=3, args=("a", 1)
    )
    copy = _roundtrip(err)
    assert type(copy) is type(err)
    assert isinstance(copy, RemoteError)
    for attr in ("message", "remote_type", "remote_traceback", "process", "instance"):
        assert getattr(copy, attr) == getattr(err, attr), attr
    assert copy.remote_args == err.remote_args
    assert copy.args == err.args
    assert str(copy) == str(err)


@pytest.mark.parametrize(
    ("err", "attrs"),
    [
        (ObjectNotFound("m", name="db", available=("a",)), ("name", "available")),
        (PayloadTooLarge("m", size=5, limit=4), ("size", "limit")),
        (
            ProcessCrashed(
                "m", process="w", instance=1, pid=9, exit_code=-9, signal=9, stderr_tail=("x",)
            ),
            ("process", "instance", "pid", "exit_code", "signal", "stderr_tail"),
        ),
        (BootFailed("m", service="s", process="p", remote_traceback="tb"), ("service", "process")),
        (CallTimeout("m"), ()),
        (HubUnreachable("m", address="/run/h/hub.sock", since=1.5), ("address", "since")),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_errors_pickle_round_trip_keeps_type_and_attributes(
    err: HubError, attrs: tuple[str, ...]
) -> None:
    copy = _roundtrip(err)
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    for attr in attrs:
        assert getattr(copy, attr) == getattr(err, attr), attr


@pytest.mark.parametrize(
    ("name", "known", "expected"),
    [
        ("ech", ["echo", "slow"], "did you mean 'echo'?"),
        ("backgrund", ["background", "worker", "hog"], "did you mean 'background'?"),
        ("countr", ("caller", "counter", "hog"), "did you mean 'counter'?"),
        ("incremnt", iter(["get_pid", "increment"]), "did you mean 'increment'?"),  # any iterable
        ("Counter", {"counter": 1}, "did you mean 'counter'?"),  # a mapping: its keys
        ("wrker", ["worker", "worker", "worker"], "did you mean 'worker'?"),  # once, if repeated
    ],
)
def test_did_you_mean_names_the_closest_known_name(
    name: str, known: Iterable[str], expected: str
) -> None:
    assert did_you_mean(name, known) == expected


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("nope", ["echo", "slow"]),  # nothing close
        ("x", []),  # nothing known
        ("worker", ["background", "worker"]),  # known: a wrong instance, not a typo
    ],
)
def test_did_you_mean_is_empty_without_a_close_other_name(name: str, known: list[str]) -> None:
    assert did_you_mean(name, known) == ""


def test_did_you_mean_picks_the_closest_of_several() -> None:
    assert did_you_mean("get_pids", ["get_pid", "get_pods", "get"]) == "did you mean 'get_pid'?"


def test_unknown_name_puts_the_guess_before_the_listing() -> None:
    head, listing = "'kv' has no remote method 'ech'", "it has: echo, slow"
    guessed = unknown_name(head, "ech", ["echo", "slow"], listing)
    assert guessed == "'kv' has no remote method 'ech'; did you mean 'echo'? (it has: echo, slow)"
    plain = unknown_name("'kv' has no remote method 'zzz'", "zzz", ["echo", "slow"], listing)
    assert plain == "'kv' has no remote method 'zzz'; it has: echo, slow"
