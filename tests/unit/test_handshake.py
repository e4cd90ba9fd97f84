"""The handshake as sans-IO state machines: the two machines against each other, byte by byte,
and each machine against the async driver of the other side (the one every connection runs).

The same machines drive the blocking connection, so these tests pin both paths.
"""

from __future__ import annotations

import os

import anyio
import pytest

from hubcore import AuthenticationFailed, ConnectionLost, HubError, ProtocolError
from hubcore.protocol import (
    NONCE_SIZE,
    PROTOCOL_VERSION,
    Auth,
    Call,
    Error,
    FrameDecoder,
    Hello,
    Welcome,
    encode_frame,
)
from hubcore.protocol._handshake import ClientHandshake, ServerHandshake
from hubcore.rpc import _handshake
from hubcore.transport.memory import MemoryStream, memory_stream_pair

TOKEN = b"a" * 64
CLIENT_NONCE = b"c" * NONCE_SIZE
SERVER_NONCE = b"s" * NONCE_SIZE
WAIT = 5.0


def _client(token: bytes = TOKEN) -> ClientHandshake:
    return ClientHandshake(token, {"process": "caller", "pid": 1}, CLIENT_NONCE)


def _server(token: bytes = TOKEN, peer_uid: int | None = None) -> ServerHandshake:
    uid = os.getuid()
    return ServerHandshake(
        token, {"hub_pid": 2}, SERVER_NONCE, peer_uid=uid if peer_uid is None else peer_uid, uid=uid
    )


def _exchange(client: ClientHandshake, server: ServerHandshake, *, chunk: int = 0) -> None:
    """Carry bytes between the two machines until neither has anything to send.

    :param chunk: feed this many bytes at a time (0: each message whole).
    """
    to_server = client.hello()
    while to_server:
        to_client = _feed(server, to_server, chunk)
        if server.refusal is not None:
            _feed(client, to_client, chunk)  # raises the refusal the client was told
            return
        to_server = _feed(client, to_client, chunk) if to_client else b""


def _feed(machine: ClientHandshake | ServerHandshake, data: bytes, chunk: int) -> bytes:
    if not chunk:
        return machine.receive_data(data)
    return b"".join(machine.receive_data(data[i : i + chunk]) for i in range(0, len(data), chunk))


# -- the two machines -------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [0, 1, 7], ids=["whole", "byte by byte", "7 bytes"])
def test_handshake_machines_agree_and_exchange_infos(chunk: int) -> None:
    client, server = _client(), _server()
    _exchange(client, server, chunk=chunk)
    assert client.done
    assert server.done
    assert client.remote == {"hub_pid": 2}  # CHALLENGE's info, then WELCOME's
    assert server.remote == {"process": "caller", "pid": 1}
    assert client.refusal is None
    assert server.refusal is None


def test_handshake_frames_behind_the_last_one_wait_for_the_connection() -> None:
    """A CALL that arrives with the AUTH (a client that did not wait) is kept, not lost."""
    client, server = _client(), _server()
    challenge = server.receive_data(client.hello())
    auth = client.receive_data(challenge)
    early = encode_frame(Call(1, "echo", "echo", [1], {}))
    welcome = server.receive_data(auth + early)
    assert server.done
    assert server.frames == [Call(1, "echo", "echo", [1], {})]
    assert client.receive_data(welcome) == b""
    assert client.done
    assert isinstance(server.decoder, FrameDecoder)


def test_handshake_wrong_proof_is_refused_with_an_error_the_client_raises() -> None:
    """A client with another token gives up on the CHALLENGE already (next test); one that
    answers with a wrong proof anyway is refused, and told what to do."""
    client, server = _client(), _server()
    challenge = server.receive_data(client.hello())
    client.receive_data(challenge)
    refusal = server.receive_data(encode_frame(Auth(b"x" * 32)))
    assert server.state == "refused"
    assert not server.done
    assert str(server.refusal) == "wrong token"  # the server's own line names no file
    with pytest.raises(AuthenticationFailed, match=r"^wrong token: read it from the hub's token"):
        client.receive_data(refusal)


def test_handshake_client_refuses_a_server_without_the_token() -> None:
    client, server = _client(), _server(token=b"b" * 64)
    with pytest.raises(AuthenticationFailed, match="could not prove it holds the token"):
        _exchange(client, server)
    assert not client.done


def test_handshake_server_refuses_a_foreign_uid() -> None:
    server = _server(peer_uid=os.getuid() + 1)
    reply = server.receive_data(_client().hello())
    assert server.refusal is not None
    assert f"refused a connection from uid {os.getuid() + 1}" in str(server.refusal)
    (frame,) = FrameDecoder().feed(reply)
    assert type(frame) is Error
    assert frame.message == str(server.refusal)


def test_handshake_server_refuses_another_protocol_version() -> None:
    server = _server()
    server.receive_data(encode_frame(Hello(PROTOCOL_VERSION + 1, CLIENT_NONCE, {})))
    assert server.refusal is not None
    assert f"protocol version {PROTOCOL_VERSION + 1} is not spoken here" in str(server.refusal)


def test_handshake_frame_of_the_wrong_kind_is_a_protocol_error() -> None:
    client = _client()
    client.hello()
    with pytest.raises(ProtocolError, match="expected CHALLENGE, got frame kind 4 \\(WELCOME\\)"):
        client.receive_data(encode_frame(Welcome({})))
    with pytest.raises(ProtocolError, match="expected HELLO, got frame kind 10 \\(CALL\\)"):
        _server().receive_data(encode_frame(Call(1, "x", "y", [], {})))


def test_handshake_machine_takes_no_bytes_once_it_is_finished() -> None:
    client, server = _client(), _server()
    _exchange(client, server)
    with pytest.raises(HubError, match="the handshake is done"):
        server.receive_data(b"\0")
    with pytest.raises(HubError, match="hello\\(\\) opens the handshake"):
        client.hello()


# -- each machine against the async driver of the other side ---------------------------------


async def _drive_by_hand(stream: MemoryStream, machine: ClientHandshake | ServerHandshake) -> None:
    """The smallest driver: what a blocking connection does, on a memory stream."""
    if isinstance(machine, ClientHandshake):
        await stream.send(machine.hello())
    while not machine.done and machine.refusal is None:
        data = await stream.receive()
        if not data:
            return
        out = machine.receive_data(data)
        if out:
            await stream.send(out)


@pytest.mark.anyio
async def test_handshake_client_machine_against_the_async_server() -> None:
    near, far = memory_stream_pair()
    client = _client()
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drive_by_hand, near, client)
            remote, _decoder, frames = await _handshake.accept(far, TOKEN, {"hub_pid": 3})
    assert client.done
    assert client.remote == {"hub_pid": 3}
    assert remote == {"process": "caller", "pid": 1}
    assert frames == []


@pytest.mark.anyio
async def test_handshake_server_machine_against_the_async_client() -> None:
    near, far = memory_stream_pair()
    server = _server()
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drive_by_hand, far, server)
            remote, _decoder, _frames = await _handshake.initiate(near, TOKEN, {"process": "x"})
    assert server.done
    assert server.remote == {"process": "x"}
    assert remote == {"hub_pid": 2}


@pytest.mark.anyio
async def test_handshake_client_machine_refuses_an_async_server_without_the_token() -> None:
    near, far = memory_stream_pair()
    client = _client(token=b"b" * 64)

    async def server_side() -> None:
        with pytest.raises(ConnectionLost, match="closed the connection during the handshake"):
            await _handshake.accept(far, TOKEN, {})

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(server_side)
            with pytest.raises(AuthenticationFailed, match="could not prove it holds the token"):
                await _drive_by_hand(near, client)
            await near.aclose()  # the server, waiting for an AUTH, sees the end instead


@pytest.mark.anyio
async def test_handshake_async_server_refuses_a_wrong_proof_then_raises() -> None:
    near, far = memory_stream_pair()
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_forged_client, near)
            with pytest.raises(AuthenticationFailed, match=r"^wrong token$"):
                await _handshake.accept(far, TOKEN, {})
    (frame,) = [f for f in FrameDecoder().feed(await near.receive()) if type(f) is Error]
    assert frame.message == "wrong token: read it from the hub's token file"


async def _forged_client(stream: MemoryStream) -> None:
    """HELLO, then an AUTH with a wrong proof without waiting for the CHALLENGE's check."""
    client = _client()
    await stream.send(client.hello())
    await stream.send(encode_frame(Auth(b"x" * 32)))


@pytest.mark.anyio
async def test_handshake_async_client_sees_the_end_of_a_silent_server() -> None:
    near, far = memory_stream_pair()
    await far.send_eof()
    with pytest.raises(ConnectionLost, match="closed the connection during the handshake"):
        await _handshake.initiate(near, TOKEN, {})
