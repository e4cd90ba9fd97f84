"""The hub's own checks of an opening handshake, driven over a raw socket in the wire format.

Each test speaks the frames of docs/protocol.md with msgpack and a socket, not hubcore's
client, so that only the hub's side of the handshake is under test: a client that skips its
own checks (or a hostile one) must still be refused by the hub. Each refusal is checked
against a control in the same test, an honest handshake that is let in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgpack
import pytest

import hubcore

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

# Frame kinds of docs/protocol.md (fixed on the wire).
HELLO, CHALLENGE, AUTH, WELCOME, CALL, RESULT, ERROR = 1, 2, 3, 4, 10, 11, 12
VERSION = 1
FOREIGN_UID = 65534  # nobody


def frame(*fields: Any) -> bytes:
    """One frame: a 4-byte big-endian length, then the msgpack array of its fields."""
    body = msgpack.packb(list(fields), use_bin_type=True)
    return len(body).to_bytes(4, "big") + body


def frames(data: bytes) -> list[list[Any]]:
    """Every frame in ``data``, which must hold whole, well-formed frames and nothing else."""
    found = []
    while data:
        assert len(data) >= 4, f"a partial frame header: {data!r}"
        size = int.from_bytes(data[:4], "big")
        assert len(data) >= 4 + size, f"a partial frame: {data!r}"
        found.append(msgpack.unpackb(data[4 : 4 + size], raw=False))
        data = data[4 + size :]
    return found


def proof(token: bytes, role: bytes, nonce: bytes) -> bytes:
    """HMAC-SHA256(token, role NUL nonce), as docs/protocol.md defines a proof."""
    return hmac.new(token, role + b"\0" + nonce, hashlib.sha256).digest()


async def read_until_closed(stream: anyio.abc.ByteStream) -> bytes:
    data = b""
    with anyio.fail_after(10):
        try:
            while True:
                data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return data


async def read_frame(stream: anyio.abc.ByteStream) -> list[Any]:
    """The next frame (the hub sends each handshake frame on its own)."""
    data = b""
    with anyio.fail_after(10):
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            data += await stream.receive()
    (only,) = frames(data)
    return only


async def hello(stream: anyio.abc.ByteStream, version: int = VERSION) -> bytes:
    nonce = secrets.token_bytes(32)
    await stream.send(frame(HELLO, 0, version, nonce, {"pid": os.getpid()}))
    return nonce


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "refused a connection" in r.getMessage()]


async def test_the_hub_lets_in_a_client_with_the_right_proof(hub):
    """The control for the refusals below: the same raw handshake with the right proof."""
    async with await anyio.connect_unix(hub.address) as stream:
        nonce = await hello(stream)
        challenge = await read_frame(stream)
        assert challenge[:2] == [CHALLENGE, 0]
        assert challenge[3] == proof(hub.token, b"server", nonce)
        await stream.send(frame(AUTH, 0, proof(hub.token, b"client", challenge[2])))
        assert (await read_frame(stream))[:2] == [WELCOME, 0]
        await stream.send(frame(CALL, 1, "$hub", "ping", [], {}))
        assert await read_frame(stream) == [RESULT, 1, "pong"]


async def test_the_hub_refuses_a_wrong_proof(hub, client, caplog):
    """A client that skips checking the hub's proof and sends a wrong one of its own gets an
    ERROR and the end of the connection; a call sent after it is never answered."""
    caplog.set_level(logging.WARNING, "hubcore")
    async with await anyio.connect_unix(hub.address) as stream:
        await hello(stream)
        challenge = await read_frame(stream)
        assert challenge[0] == CHALLENGE
        wrong = proof(b"not-the-token", b"client", challenge[2])
        await stream.send(frame(AUTH, 0, wrong) + frame(CALL, 1, "$hub", "ping", [], {}))
        replies = frames(await read_until_closed(stream))
    assert replies == [
        [ERROR, 0, "AuthenticationFailed", "wrong token: read it from the hub's token file"]
    ]
    assert refusals(caplog) == [f"hub refused a connection from pid {os.getpid()}: wrong token"]
    assert await client.hub_call("ping") == "pong"


async def test_the_hub_refuses_its_own_proof_sent_back(hub, caplog):
    """The server's proof over the client's nonce, replayed as the client's: refused (the role
    is part of what a proof covers)."""
    caplog.set_level(logging.WARNING, "hubcore")
    async with await anyio.connect_unix(hub.address) as stream:
        await hello(stream, VERSION)
        challenge = await read_frame(stream)
        replayed = proof(hub.token, b"server", challenge[2])
        await stream.send(frame(AUTH, 0, replayed))
        replies = frames(await read_until_closed(stream))
    assert [r[:3] for r in replies] == [[ERROR, 0, "AuthenticationFailed"]]
    assert refusals(caplog) == [f"hub refused a connection from pid {os.getpid()}: wrong token"]


async def test_the_hub_refuses_another_protocol_version(hub, client, caplog):
    """A HELLO of a version the hub does not speak gets an ERROR before any CHALLENGE."""
    caplog.set_level(logging.WARNING, "hubcore")
    async with await anyio.connect_unix(hub.address) as stream:
        await hello(stream, version=VERSION + 1)
        replies = frames(await read_until_closed(stream))
    reason = f"protocol version {VERSION + 1} is not spoken here (this end speaks {VERSION})"
    assert replies == [[ERROR, 0, "AuthenticationFailed", reason]]
    assert refusals(caplog) == [f"hub refused a connection from pid {os.getpid()}: {reason}"]
    assert await client.hub_call("ping") == "pong"


# The uid check: a child process of another uid speaks the handshake. As root, the test opens
# the run directory and the socket to everyone, so that the uid check (SO_PEERCRED) is what
# refuses, and not the file modes (which the tests above check stay private).
FOREIGN_CLIENT = """
import json, os, secrets, socket, sys
import msgpack

# Started as root (another uid could not even run this interpreter, under /root), it drops
# to the foreign uid once everything it needs is imported.
os.setgroups([])
os.setgid(int(sys.argv[2]))
os.setuid(int(sys.argv[2]))
body = msgpack.packb([1, 0, 1, secrets.token_bytes(32), {"pid": os.getpid()}], use_bin_type=True)
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(10)
sock.connect(sys.argv[1])
sock.sendall(len(body).to_bytes(4, "big") + body)
data = b""
while chunk := sock.recv(65536):
    data += chunk
print(json.dumps({"uid": os.getuid(), "reply": data.hex()}))
"""


def _foreign_uid_possible() -> str | None:
    """Why this test cannot run here, or None."""
    if os.getuid() != 0:
        return f"needs root to turn a child into uid {FOREIGN_UID} (running as uid {os.getuid()})"
    return None


async def test_the_hub_refuses_a_process_of_another_uid(hub, client, caplog):
    why_not = _foreign_uid_possible()
    if why_not:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the uid check: {why_not}")
        pytest.skip(why_not)
    caplog.set_level(logging.WARNING, "hubcore")
    Path(hub.address).parent.chmod(0o711)  # others may reach the socket inside, not list it
    Path(hub.address).chmod(0o666)
    result = await anyio.run_process(
        [sys.executable, "-c", FOREIGN_CLIENT, hub.address, str(FOREIGN_UID)], check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    answer = json.loads(result.stdout)
    assert answer["uid"] == FOREIGN_UID
    reason = f"refused a connection from uid {FOREIGN_UID}: only uid 0 may connect"
    assert frames(bytes.fromhex(answer["reply"])) == [[ERROR, 0, "AuthenticationFailed", reason]]
    assert any(line.endswith(reason) for line in refusals(caplog)), refusals(caplog)
    assert await client.hub_call("ping") == "pong"


async def test_the_hub_logs_a_client_that_hangs_up_during_the_handshake(hub, caplog):
    caplog.set_level(logging.WARNING, "hubcore")
    async with await anyio.connect_unix(hub.address) as stream:
        await hello(stream)
        await read_frame(stream)  # the CHALLENGE: then hang up instead of answering it
    with anyio.fail_after(10):
        while not refusals(caplog):  # noqa: ASYNC110 (the hub logs it in its own task)
            await anyio.sleep(0.01)
    assert refusals(caplog) == [
        f"hub refused a connection from pid {os.getpid()}: "
        "the other end closed the connection during the handshake"
    ]


# The client's side: hubcore.connect against a server that speaks raw frames.


async def _serve_one(
    path: Path, answer: bytes | None, *, task_status: Any = anyio.TASK_STATUS_IGNORED
) -> None:
    """Accept one connection, read its HELLO, send ``answer`` and hang up (None: say nothing,
    and keep the connection open)."""
    async with await anyio.create_unix_listener(path) as listener:
        task_status.started()
        async with await listener.accept() as stream:
            assert (await read_frame(stream))[0] == HELLO
            if answer is None:
                await anyio.sleep_forever()
            await stream.send(answer)


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        pytest.param(
            frame(ERROR, 0, "AuthenticationFailed", "go away"),
            hubcore.AuthenticationFailed,
            "go away",
            id="refused",
        ),
        pytest.param(
            frame(RESULT, 0, None),
            hubcore.ProtocolError,
            "handshake: expected CHALLENGE, got frame kind 11 (RESULT)",
            id="wrong-kind",
        ),
        pytest.param(
            b"",
            hubcore.ConnectionLost,
            "the other end closed the connection during the handshake",
            id="hung-up",
        ),
    ],
)
async def test_a_client_says_why_a_server_failed_the_handshake(rundir, answer, error, message):
    path = rundir / "fake.sock"
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(_serve_one, path, answer)
            with pytest.raises(error) as info:
                async with hubcore.connect(path, token=b"t" * 32, reconnect=False):
                    pass
            tg.cancel_scope.cancel()
    assert str(info.value) == message


async def test_a_client_refuses_a_server_without_the_token(hub):
    with pytest.raises(hubcore.AuthenticationFailed) as info:
        async with hubcore.connect(hub.address, token=b"not-the-token", reconnect=False):
            pass
    assert str(info.value) == (
        "the server could not prove it holds the token: wrong address or token file?"
    )


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # 5 s: the client's own bound
async def test_a_client_gives_up_on_a_silent_server(rundir, anyio_backend):
    path = rundir / "fake.sock"
    async with anyio.create_task_group() as tg:
        await tg.start(_serve_one, path, None)
        started = anyio.current_time()
        with pytest.raises(TimeoutError) as info:
            async with hubcore.connect(path, token=b"t" * 32, reconnect=False):
                pass
        tg.cancel_scope.cancel()
    assert 4.5 < anyio.current_time() - started < 8
    assert str(info.value) == "the other end did not complete the handshake within 5 s"


async def test_a_wrong_proof_from_a_client_already_gone_is_still_logged_as_such(hub, caplog):
    """The hub's ERROR cannot be delivered (the client hung up right after its proof): the
    refusal is still a wrong token, not a hang-up."""
    caplog.set_level(logging.WARNING, "hubcore")
    async with await anyio.connect_unix(hub.address) as stream:
        await hello(stream)
        challenge = await read_frame(stream)
        await stream.send(frame(AUTH, 0, proof(b"not-the-token", b"client", challenge[2])))
    with anyio.fail_after(10):
        while not refusals(caplog):  # noqa: ASYNC110 (the hub logs it in its own task)
            await anyio.sleep(0.01)
    assert refusals(caplog) == [f"hub refused a connection from pid {os.getpid()}: wrong token"]
