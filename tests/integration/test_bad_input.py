"""Permissions, authentication and malformed bytes: each refused cleanly, nothing else disturbed."""

from __future__ import annotations

import logging
import os
import stat

import anyio
import msgpack
import pytest

import hubcore
from hubcore.protocol import Call, Error, FrameDecoder, Incoming, Result, encode_frame
from hubcore.rpc import _handshake
from hubcore.transport import ByteStream, connect_unix
from tests.integration.helpers import eventually

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]


def _raw_frame(body: object) -> bytes:
    """A length-prefixed msgpack body, well-formed frame or not."""
    data = msgpack.packb(body)
    return len(data).to_bytes(4, "big") + data


async def test_run_directory_and_socket_are_private(hub):
    assert stat.S_IMODE(os.stat(os.path.dirname(hub.address)).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(hub.address).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(hub.token_file).st_mode) == 0o600


async def test_hub_refuses_a_directory_open_to_others(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with pytest.raises(hubcore.HubError, match="open to other users"):
        async with hubcore.serve_hub(shared / "hub.sock"):
            pass


async def test_second_hub_on_the_same_address_is_refused(hub):
    with pytest.raises(hubcore.HubError, match="already running"):
        async with hubcore.serve_hub(hub.address):
            pass


async def test_wrong_token_is_refused_and_logged_once(hub, client, caplog):
    caplog.set_level(logging.WARNING, "hubcore")
    with pytest.raises(hubcore.AuthenticationFailed):
        async with hubcore.connect(hub.address, token=b"not-the-token"):
            pass
    assert await client.hub_call("ping") == "pong"

    def refusals() -> list[str]:
        return [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]

    async def logged() -> bool:
        return bool(refusals())

    # The client gives up on the hub's proof and hangs up; the hub logs when it reads that,
    # which the ping on another connection does not wait for.
    await eventually(logged)
    assert len(refusals()) == 1, refusals()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff" * 64, id="garbage"),
        pytest.param(b"\x00\x00\x00\x10abc", id="truncated"),
        pytest.param((2**31).to_bytes(4, "big"), id="oversized-header"),
        pytest.param(_raw_frame(["not", "a", "frame"]), id="wrong-types"),
    ],
)
async def test_malformed_bytes_close_only_that_connection(hub, client, payload, caplog):
    caplog.set_level(logging.WARNING, "hubcore")
    await client.publish("still-here", object())
    stream = await anyio.connect_unix(hub.address)
    await stream.send(payload)
    await stream.send_eof()
    with anyio.fail_after(10):
        leftover = await _read_until_closed(stream)
    assert leftover == b""  # closed without a word: no WELCOME, nor anything else
    assert await client.hub_call("ping") == "pong"
    assert [o.name for o in await client.objects()] == ["still-here"]
    refusals = [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]
    assert refusals
    assert all(not line.endswith(": ") for line in refusals), refusals  # a reason ends each


async def test_silent_connection_is_dropped_with_the_reason_in_the_log(hub, client, caplog):
    """A client that connects and says nothing is dropped when the handshake time is up, and
    the log line says why (a bare TimeoutError used to leave it ending in ": ")."""
    caplog.set_level(logging.WARNING, "hubcore")
    hub.handshake_timeout = 0.2  # instead of 5 s
    stream = await anyio.connect_unix(hub.address)
    with anyio.fail_after(10):
        leftover = await _read_until_closed(stream)
    assert leftover == b""
    refusals = [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]
    assert refusals == [
        f"hub refused a connection from pid {os.getpid()}: "
        "the other end did not complete the handshake within 0.2 s"
    ]
    assert await client.hub_call("ping") == "pong"


async def test_malformed_frame_after_handshake_closes_only_that_peer(hub, client, caplog):
    """A client speaking garbage after a valid handshake loses its connection, nobody else."""
    caplog.set_level(logging.WARNING, "hubcore")
    async with hubcore.connect(hub.address, token=hub.token, process="rogue") as rogue:
        link = rogue.hub
        link.write(b"\x00\x00\x00\x03\xc1\xc1\xc1")  # 0xc1 is never valid msgpack
        with anyio.fail_after(10):
            while not link.closed:
                await rogue.directory.changed.wait()
    assert await client.hub_call("ping") == "pong"
    assert any("protocol violation" in r.getMessage() for r in caplog.records)


async def test_default_client_without_environment_names_the_variables(monkeypatch):
    monkeypatch.delenv("HUBCORE_ADDRESS", raising=False)
    with pytest.raises(hubcore.HubError, match=r"HUBCORE_ADDRESS.*HUBCORE_TOKEN_FILE"):
        await hubcore.get_proxy("anything")


async def test_default_client_joins_the_hub_named_by_the_environment(hub, monkeypatch):
    monkeypatch.setenv("HUBCORE_ADDRESS", hub.address)
    monkeypatch.setenv("HUBCORE_TOKEN_FILE", hub.token_file)
    await hubcore.publish_object("from-env", _Answer())
    proxy = await hubcore.get_proxy("from-env", timeout=5)
    assert await proxy.answer() == 42
    await hubcore.client._api.close_default_client()


class _Answer:
    def answer(self) -> int:
        return 42


async def _read_until_closed(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError):
        return data


async def test_socket_path_too_long_is_a_clear_error():
    with pytest.raises(hubcore.HubError, match="over the 107-byte limit"):
        async with hubcore.serve_hub("/tmp/" + "x" * 120 + "/hub.sock"):
            pass


class _Slow:
    def echo(self, value: object) -> object:
        return value

    async def later(self, value: object) -> object:
        await anyio.sleep(0.2)
        return value


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        pytest.param(
            ["slow", "echo", "not an array", {}], "args must be an array, got str", id="args"
        ),
        pytest.param(["slow", "echo", [], ["a"]], "kwargs must be a map, got list", id="kwargs"),
        pytest.param(["slow", "echo", [], {1: 2}], "kwargs keys must be strings", id="keys"),
        pytest.param(["slow", 7, [], {}], "target and method must be strings", id="method"),
        pytest.param([None, "echo", [], {}], "target and method must be strings", id="target"),
        pytest.param(
            ["slow", "echo"],
            "expected [kind, id, target, method, args, kwargs], got 4 fields",
            id="short",
        ),
    ],
)
async def test_malformed_call_fails_only_that_call(hub, client, fields, problem, caplog):
    """A CALL whose fields are wrong gets an ERROR for its id; the call in flight before it and
    the call after it on the same connection are answered, and the connection stays open."""
    caplog.set_level(logging.WARNING, "hubcore")
    publication = await client.publish("slow", _Slow())
    stream = await connect_unix(publication.info.address)
    try:
        _peer, decoder, early = await _handshake.initiate(stream, hub.token, {"process": "raw"})
        await stream.send(
            encode_frame(Call(1, "slow", "later", ["first"], {}))  # in flight meanwhile
            + _raw_frame([10, 2, *fields])
            + encode_frame(Call(3, "slow", "echo", ["third"], {}))
        )
        replies = await _replies(stream, decoder, early, count=3)
        await stream.send(encode_frame(Call(4, "slow", "echo", ["fourth"], {})))
        replies.update(await _replies(stream, decoder, [], count=1))
    finally:
        await stream.aclose()
    assert replies[1] == Result(1, "first")
    assert replies[3] == Result(3, "third")
    assert replies[4] == Result(4, "fourth")
    error = replies[2]
    assert isinstance(error, Error)
    assert (error.id, error.type_name) == (2, "TypeError")
    assert error.message == f"malformed CALL frame: {problem}"
    assert any("malformed CALL 2 answered with an error" in r.getMessage() for r in caplog.records)
    assert not any("protocol violation" in r.getMessage() for r in caplog.records)


async def _replies(
    stream: ByteStream, decoder: FrameDecoder, frames: list[Incoming], count: int
) -> dict[int, Incoming]:
    """The next ``count`` RESULT/ERROR frames by call id (bounded; EOF fails the test)."""
    found: dict[int, Incoming] = {}
    with anyio.fail_after(10):
        while True:
            for frame in frames:
                if isinstance(frame, Result | Error):
                    found[frame.id] = frame
            if len(found) >= count:
                return found
            data = await stream.receive()
            assert data, f"the callee closed the connection; replies so far: {found}"
            frames = decoder.feed(data)
