"""Where a suspended coroutine waits (``hubcore.rpc._stacks``) and how a report shows it
(``pytest_hub._report.remote_stack_section``). No sockets, no event loop: coroutines are
driven by hand with a generator-based awaitable that suspends."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Generator
from pathlib import Path
from typing import Any

import hubcore
from hubcore._errors import remote_error
from hubcore.rpc._stacks import MAX_FRAMES, coroutine_stack
from pytest_hub._report import _timeouts, remote_stack_section

HERE = __file__


@types.coroutine
def _suspend() -> Generator[None, None, None]:
    yield  # where the driven coroutine stops


async def _inner() -> None:
    await _suspend()


async def _outer() -> None:
    await _inner()


async def _deep(n: int) -> None:
    if n:
        await _deep(n - 1)
    else:
        await _suspend()


def _started(coro: Any) -> Any:
    coro.send(None)  # runs to the first suspension
    return coro


def test_stack_follows_the_awaits_down_innermost_last() -> None:
    coro = _started(_outer())
    try:
        stack = coroutine_stack(coro)
    finally:
        coro.close()
    assert [line.split(" in ")[1].split(":")[0] for line in stack] == [
        "_outer",
        "_inner",
        "_suspend",
    ]
    assert stack[0].startswith(f"{HERE}:")
    assert stack[1].endswith(" in _inner: `await _suspend()`")


def test_stack_keeps_the_innermost_frames_only() -> None:
    coro = _started(_deep(MAX_FRAMES + 10))
    try:
        stack = coroutine_stack(coro)
    finally:
        coro.close()
    assert len(stack) == MAX_FRAMES
    assert " in _suspend: " in stack[-1]


def test_stack_of_a_coroutine_that_finished_is_empty() -> None:
    async def done() -> int:
        return 1

    coro = done()
    with contextlib.suppress(StopIteration):
        coro.send(None)
    assert coroutine_stack(coro) == ()
    assert coroutine_stack(None) == ()


def test_report_section_names_the_innermost_frame_of_user_code(tmp_path: Path) -> None:
    stack = (
        f"{tmp_path}/services/kv.py:14 in slow: `await anyio.sleep(seconds)`",
        f"{Path(types.__file__).parent}/asyncio/tasks.py:649 in sleep: `return await future`",
    )
    title, text = remote_stack_section("kv.slow", stack, tmp_path)
    assert title == "hub remote stack: kv.slow"
    lines = text.splitlines()
    assert (
        lines[0] == "kv.slow was waiting at services/kv.py:14 in slow: `await anyio.sleep(seconds)`"
    )
    assert lines[2:] == [
        "remote stack (innermost last):",
        "  services/kv.py:14 in slow: `await anyio.sleep(seconds)`",
        f"  {stack[1]}",
    ]


def test_report_section_without_user_code_names_the_innermost_frame(tmp_path: Path) -> None:
    stack = (f"{Path(types.__file__).parent}/asyncio/tasks.py:649 in sleep: `return await future`",)
    _, text = remote_stack_section("kv.slow", stack, tmp_path)
    assert text.splitlines()[0] == f"kv.slow was waiting at {stack[0]}"


def test_report_finds_a_timeout_of_the_test_and_of_a_chain_it_started() -> None:
    stack = ("/srv/kv.py:14 in slow: `await x`",)
    own = hubcore.CallTimeout("kv.slow did not answer within 1s")
    own.call, own.remote_stack = "kv.slow", stack
    wrapped = RuntimeError("the test's own error")
    wrapped.__cause__ = own
    remote = remote_error(
        "CallTimeout", "web.snapshot → kv.slow did not answer within 0.9 s left of 1 s", stack=stack
    )
    assert _timeouts(wrapped) == [("kv.slow", stack, False)]
    assert _timeouts(remote) == [("kv.slow", stack, False)]
    assert _timeouts(hubcore.CallTimeout("no stack")) == []


def test_report_finds_a_plain_method_that_held_its_loop_in_a_chain_too() -> None:
    """The test's own timeout says so in ``remote_blocked``; a remote one only in its text."""
    stack = ("/srv/kv.py:14 in slow: `time.sleep(60)`",)
    own = hubcore.CallTimeout("kv.slow did not answer within 1s: it is still running, ...")
    own.call, own.remote_stack, own.remote_blocked = "kv.slow", stack, True
    remote = remote_error(
        "CallTimeout",
        "web.snapshot → kv.slow did not answer within 0.9 s left of 1 s: it is still running, a"
        " plain method holding its process's event loop, which cannot be cancelled (...)",
        stack=stack,
    )
    assert _timeouts(own) == [("kv.slow", stack, True)]
    assert _timeouts(remote) == [("kv.slow", stack, True)]


def test_report_section_of_a_plain_method_that_held_its_loop(tmp_path: Path) -> None:
    stack = (f"{tmp_path}/services/kv.py:9 in slow: `time.sleep(60)`",)
    _, text = remote_stack_section("kv.slow", stack, tmp_path, blocked=True)
    assert text.splitlines()[0] == (
        "kv.slow was still running, holding its process's event loop, at "
        "services/kv.py:9 in slow: `time.sleep(60)`"
    )
