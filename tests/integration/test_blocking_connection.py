"""The blocking connection against a scripted other end: a real socket pair, the other end
played by the test with the protocol's frames, so each frame arrives exactly when the test
says. The decisions are those of the async connection (tests/unit/test_connection.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubcore import CallTimeout, ConnectionLost, ProcessCrashed
from hubcore._errors import CallNotTaken
from hubcore.protocol import (
    CANCELLED,
    NONCE_SIZE,
    RUNNING,
    Call,
    Cancel,
    Error,
    FrameDecoder,
    Goodbye,
    Incoming,
    Ping,
    Pong,
    Result,
    ServerHandshake,
    encode_frame,
)
from hubcore.rpc._blocking import BlockingConnection
from hubcore.transport.blocking import BlockingStream

pytestmark = [pytest.mark.timeout(30)]

WAIT = 5.0


class Peer:
    """The other end, driven by the test: reads frames, writes frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(WAIT)
        self.decoder = FrameDecoder()
        self.frames: list[Incoming] = []

    def next(self) -> Incoming:
        while not self.frames:
            data = self.sock.recv(65536)
            assert data, "the connection ended"
            self.frames.extend(self.decoder.feed(data))
        return self.frames.pop(0)

    def send(self, *frames: Any) -> None:
        self.sock.sendall(b"".join(encode_frame(f) for f in frames))


@pytest.fixture
def pair() -> Iterator[tuple[BlockingConnection, Peer]]:
    near, far = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    conn = BlockingConnection(
        BlockingStream(near, "pair"), decoder=FrameDecoder(), frames=[], label="peer.0", remote={}
    )
    yield conn, Peer(far)
    conn.close()
    far.close()


def _serving(fn: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=fn, daemon=True)
    thread.start()
    return thread


def test_blocking_connection_drops_the_late_reply_of_a_call_that_timed_out(pair) -> None:
    conn, peer = pair
    seen: list[Incoming] = []

    def other_end() -> None:
        seen.extend([peer.next(), peer.next(), peer.next()])
        first, _cancel, second = seen
        peer.send(Result(first.id, "late"), Result(second.id, "second"))  # type: ignore[union-attr]

    thread = _serving(other_end)
    with pytest.raises(CallTimeout, match=r"echo\.echo did not answer within 0\.2s"):
        conn.call("echo", "echo", (1,), timeout=0.2)
    assert conn.call("echo", "echo", (2,), timeout=WAIT) == "second"
    thread.join(WAIT)
    assert seen[1] == Cancel(1)  # the caller gave up on the first call, and said so


def test_blocking_connection_takes_a_watchdog_answer_before_its_timeout_as_one(pair) -> None:
    """The callee's watchdog answered for a plain method that held its loop before this
    end's own deadline passed (the callee's clock ran ahead): a timeout all the same, which
    says the method still runs, and where."""
    conn, peer = pair
    stack = ("/srv/kv.py:9 in slow: `time.sleep(60)`",)

    def other_end() -> None:
        call = peer.next()
        peer.send(Error(call.id, CANCELLED, RUNNING, stack=stack))  # type: ignore[union-attr]

    thread = _serving(other_end)
    with pytest.raises(
        CallTimeout, match=r"kv\.slow did not answer within 30s: it is still"
    ) as caught:
        conn.call("kv", "slow", timeout=30)
    assert caught.value.remote_blocked
    assert caught.value.remote_stack == stack
    thread.join(WAIT)


def test_blocking_connection_answers_ping_and_refuses_calls_while_it_waits(pair) -> None:
    conn, peer = pair
    seen: list[Incoming] = []

    def other_end() -> None:
        call = peer.next()
        peer.send(Ping(7), Call(1, "x", "y", [], {}))
        seen.extend([peer.next(), peer.next()])
        peer.send(Result(call.id, "done"))

    thread = _serving(other_end)
    assert conn.call("echo", "echo", timeout=WAIT) == "done"
    thread.join(WAIT)
    pong, refusal = seen
    assert pong == Pong(7)
    assert type(refusal) is Error
    assert (refusal.id, refusal.type_name) == (1, "LookupError")
    assert refusal.message == "this connection serves no objects"


def _answer_once(conn: BlockingConnection, peer: Peer) -> int:
    """One call answered: its id."""

    def other_end() -> None:
        call = peer.next()
        peer.send(Result(call.id, call.id))

    thread = _serving(other_end)
    cid: int = conn.call("echo", "echo", timeout=WAIT)
    thread.join(WAIT)
    return cid


def test_blocking_connection_call_the_other_end_did_not_take_is_not_taken(pair) -> None:
    conn, peer = pair
    assert _answer_once(conn, peer) == 1

    def other_end() -> None:
        peer.next()
        peer.send(Goodbye(None, 1))  # it took call 1 only, then left
        peer.sock.shutdown(socket.SHUT_WR)

    thread = _serving(other_end)
    with pytest.raises(CallNotTaken, match=r"echo\.echo was not run: peer\.0 left before"):
        conn.call("echo", "echo", timeout=WAIT)
    thread.join(WAIT)
    assert conn.closed
    with pytest.raises(CallNotTaken, match=r"connection to peer\.0 is closed"):
        conn.call("echo", "echo", timeout=WAIT)  # nothing is sent any more


def test_blocking_connection_call_taken_before_a_goodbye_is_connection_lost(pair) -> None:
    conn, peer = pair

    def other_end() -> None:
        call = peer.next()
        peer.send(Goodbye(None, call.id))
        peer.sock.shutdown(socket.SHUT_WR)

    thread = _serving(other_end)
    with pytest.raises(ConnectionLost, match=r"connection to peer\.0 closed") as info:
        conn.call("echo", "echo", timeout=WAIT)
    assert type(info.value) is ConnectionLost  # it may have run: not a "not taken"
    thread.join(WAIT)


def test_blocking_connection_lost_without_goodbye_asks_what_became_of_the_peer(pair) -> None:
    conn, peer = pair
    crash = ProcessCrashed("process peer.0 died with calls in flight")
    asked: list[BlockingConnection] = []
    conn.lost_error = lambda c: asked.append(c) or crash

    def other_end() -> None:
        peer.next()
        peer.sock.close()  # vanishes with the call in flight

    thread = _serving(other_end)
    with pytest.raises(ProcessCrashed) as info:
        conn.call("echo", "echo", timeout=WAIT)
    assert info.value is crash
    assert asked == [conn]
    thread.join(WAIT)


def test_blocking_connection_drops_a_peer_that_breaks_the_protocol(pair, caplog) -> None:
    conn, peer = pair
    seen: list[Incoming] = []

    def other_end() -> None:
        peer.next()
        peer.sock.sendall(b"\x00\x00\x00\x02\xc1\xc1")  # a frame that is not msgpack
        seen.append(peer.next())

    thread = _serving(other_end)
    with pytest.raises(ConnectionLost, match="closed: protocol violation: undecodable frame"):
        conn.call("echo", "echo", timeout=WAIT)
    thread.join(WAIT)
    assert seen == [Goodbye("you broke the protocol: undecodable frame: " + _why())]
    assert "protocol violation, closing the connection" in caplog.text


def _why() -> str:
    try:
        FrameDecoder().feed(b"\x00\x00\x00\x02\xc1\xc1")
    except Exception as exc:
        return str(exc).removeprefix("undecodable frame: ")
    raise AssertionError("the bytes decoded")


def test_blocking_connection_reads_a_large_reply_into_one_buffer(pair) -> None:
    conn, peer = pair
    payload = bytes(range(256)) * (8 * 4096)  # 8 MiB

    def other_end() -> None:
        call = peer.next()
        peer.send(Result(call.id, payload))

    thread = _serving(other_end)
    assert conn.call("echo", "echo", timeout=WAIT) == payload
    thread.join(WAIT)
    assert conn._decoder.buffered == 0


def test_blocking_connection_opens_with_the_handshake(tmp_path: Path) -> None:
    path = str(tmp_path / "peer.sock")
    token = b"t" * 64
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    listener.settimeout(WAIT)

    def other_end() -> None:
        sock, _ = listener.accept()
        peer = Peer(sock)
        machine = ServerHandshake(
            token, {"process": "far"}, b"n" * NONCE_SIZE, peer_uid=None, uid=0
        )
        while not machine.done:
            peer.sock.sendall(machine.receive_data(peer.sock.recv(65536)))
        peer.decoder, peer.frames = machine.decoder, machine.frames
        call = peer.next()
        peer.send(Result(call.id, machine.remote))
        sock.close()

    thread = _serving(other_end)
    conn = BlockingConnection.open(path, token, {"process": "near"}, label="far.0", timeout=WAIT)
    try:
        assert conn.remote == {"process": "far"}
        assert not conn.bulk  # the other end listed no features: no BULK frames to it
        # Our info map, with the extensions of the wire format we speak.
        assert conn.call("x", "y", timeout=WAIT) == {"process": "near", "features": ["bulk"]}
    finally:
        conn.close()
        listener.close()
    thread.join(WAIT)
    with pytest.raises(ConnectionLost, match="cannot connect to"):
        BlockingConnection.open(path, token, {}, label="gone", timeout=WAIT)


def test_blocking_connection_closes_when_time_is_up_in_the_middle_of_a_frame(pair) -> None:
    """Half a frame read leaves the stream out of step: the connection is not used again."""
    conn, peer = pair
    payload = bytes(8 << 20)

    def other_end() -> None:
        call = peer.next()
        frame = encode_frame(Result(call.id, payload))
        peer.sock.sendall(frame[: len(frame) // 2])  # the rest never comes

    thread = _serving(other_end)
    with pytest.raises(CallTimeout):
        conn.call("echo", "echo", timeout=0.5)
    thread.join(WAIT)
    assert conn.closed
    with pytest.raises(CallNotTaken, match="closed: the time was up in the middle of a frame"):
        conn.call("echo", "echo", timeout=WAIT)
