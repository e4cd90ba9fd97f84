"""The token handshake that opens every connection, as two sans-IO state machines.

client -> HELLO [version, client_nonce, info]
server -> CHALLENGE [server_nonce, proof(token, "server", client_nonce), info]
client -> AUTH [proof(token, "client", server_nonce)]
server -> WELCOME [info]            (or ERROR, then close)

How it works: each end is an object that is fed the bytes that arrived
(:meth:`receive_data`) and returns the bytes to send now; it never reads, writes, sleeps or
draws random numbers (the driver passes the nonce in). The async connection
(``hubcore.rpc._handshake``) and the blocking one (``hubcore.rpc._blocking``) drive the same
objects, so both ends of every connection follow one set of rules.

States of :class:`ClientHandshake`: ``hello`` (call :meth:`~ClientHandshake.hello` and send it)
-> ``challenge`` (waiting for CHALLENGE) -> ``welcome`` (waiting for WELCOME) -> ``done``.
States of :class:`ServerHandshake`: ``hello`` (waiting for HELLO) -> ``auth`` (waiting for
AUTH) -> ``done``, or ``refused``.

Failures: a server that refuses (a peer of another uid, another protocol version, a wrong
proof) returns the ERROR frame to send and sets :attr:`ServerHandshake.refusal`, which its
driver raises once the frame is sent. Anything else raises at once: ``AuthenticationFailed``
(an ERROR received, or a server that cannot prove it holds the token) and ``ProtocolError``
(a malformed frame, or one of the wrong kind). Invariant: once ``done``, :attr:`remote` holds
the other end's info, and frames that arrived behind the last handshake frame wait in
:attr:`frames` with the :attr:`decoder` that parsed them, for the connection that follows.
"""

from __future__ import annotations

from typing import Any, TypeVar

from hubcore._errors import AuthenticationFailed, HubError, ProtocolError
from hubcore.protocol._auth import PROTOCOL_VERSION, proof, verify
from hubcore.protocol._frames import Auth, Challenge, Error, Hello, Welcome
from hubcore.protocol._framing import FrameDecoder, Incoming, encode_frame

__all__ = ("MAX_HANDSHAKE_FRAME", "ClientHandshake", "ServerHandshake")

#: The largest handshake frame either end accepts (its info maps are small).
MAX_HANDSHAKE_FRAME = 64 * 1024

_F = TypeVar("_F", Hello, Challenge, Auth, Welcome)


class _Handshake:
    """What both ends share: the decoder, frames not yet handled, the state."""

    def __init__(self, token: bytes, info: dict[str, Any], nonce: bytes) -> None:
        self._token = token
        self._info = info
        self._nonce = nonce
        self.state = "hello"
        self.decoder = FrameDecoder(max_size=MAX_HANDSHAKE_FRAME)
        self.frames: list[Incoming] = []
        self.remote: dict[str, Any] = {}
        #: Set when this end refuses the other (a server only): raise it once the bytes
        #: :meth:`receive_data` returned are sent.
        self.refusal: AuthenticationFailed | None = None

    @property
    def done(self) -> bool:
        """Whether the handshake succeeded (the connection may be used)."""
        return self.state == "done"

    def _feed(self, data: bytes) -> None:
        if self.state in ("done", "refused"):
            raise HubError(f"the handshake is {self.state}: it takes no more bytes")
        self.frames.extend(self.decoder.feed(data))

    def _next(self, expected: type[_F]) -> _F | None:
        """The next frame, which must be of the ``expected`` class (an ERROR is a refusal);
        None if none arrived yet."""
        if not self.frames:
            return None
        frame = self.frames.pop(0)
        if type(frame) is Error:
            raise AuthenticationFailed(frame.message)
        if type(frame) is not expected:
            kind = frame.KIND
            expecting = expected.KIND.name
            raise ProtocolError(
                f"handshake: expected {expecting}, got frame kind {int(kind)} ({kind.name})"
            )
        return frame


class ClientHandshake(_Handshake):
    """The side that connects: ``hello()`` first, then feed it what arrives until ``done``."""

    def __init__(self, token: bytes, info: dict[str, Any], nonce: bytes) -> None:
        """:param nonce: fresh random bytes (``NONCE_SIZE`` of them) for this handshake."""
        super().__init__(token, info, nonce)
        self._server_info: dict[str, Any] = {}

    def hello(self) -> bytes:
        """The HELLO to send first."""
        if self.state != "hello":
            raise HubError("hello() opens the handshake: it was called already")
        self.state = "challenge"
        return encode_frame(Hello(PROTOCOL_VERSION, self._nonce, self._info))

    def receive_data(self, data: bytes) -> bytes:
        """Take bytes from the server; return the bytes to send back (maybe none).

        :raises AuthenticationFailed: the server refused, or could not prove it holds the token.
        :raises ProtocolError: a malformed frame, or one of the wrong kind.
        """
        self._feed(data)
        out = b""
        if self.state == "challenge" and (challenge := self._next(Challenge)) is not None:
            if not verify(self._token, b"server", self._nonce, challenge.proof):
                raise AuthenticationFailed(
                    "the server could not prove it holds the token: wrong address or token file?"
                )
            self._server_info = challenge.info
            out = encode_frame(Auth(proof(self._token, b"client", challenge.nonce)))
            self.state = "welcome"
        if self.state == "welcome" and (welcome := self._next(Welcome)) is not None:
            self.remote = {**self._server_info, **welcome.info}
            self.state = "done"
        return out


class ServerHandshake(_Handshake):
    """The side that accepted the connection: feed it what arrives until ``done``; if it sets
    :attr:`refusal`, send what it returned and raise that."""

    def __init__(
        self,
        token: bytes,
        info: dict[str, Any],
        nonce: bytes,
        *,
        peer_uid: int | None,
        uid: int,
    ) -> None:
        """:param nonce: fresh random bytes (``NONCE_SIZE`` of them) for this handshake.
        :param peer_uid: the other end's uid as the kernel reports it (None: unknown).
        :param uid: this process's uid: the only one allowed to connect."""
        super().__init__(token, info, nonce)
        self._peer_uid = peer_uid
        self._uid = uid

    def receive_data(self, data: bytes) -> bytes:
        """Take bytes from the client; return the bytes to send back (maybe none).

        :raises AuthenticationFailed: the client sent an ERROR.
        :raises ProtocolError: a malformed frame, or one of the wrong kind.
        """
        self._feed(data)
        if self.state == "hello" and (hello := self._next(Hello)) is not None:
            if self._peer_uid is not None and self._peer_uid != self._uid:
                return self._refuse(
                    f"refused a connection from uid {self._peer_uid}: only uid {self._uid} "
                    "may connect"
                )
            if hello.version != PROTOCOL_VERSION:
                return self._refuse(
                    f"protocol version {hello.version} is not spoken here "
                    f"(this end speaks {PROTOCOL_VERSION})"
                )
            self.remote = hello.info
            self.state = "auth"
            answer = proof(self._token, b"server", hello.nonce)
            challenge = encode_frame(Challenge(self._nonce, answer, self._info))
            return challenge + self._after_challenge()
        return self._after_challenge()

    def _after_challenge(self) -> bytes:
        if self.state != "auth" or (auth := self._next(Auth)) is None:
            return b""
        if not verify(self._token, b"client", self._nonce, auth.proof):
            # The log line of the driver names the pid; the client is told what to do.
            return self._refuse("wrong token: read it from the hub's token file", "wrong token")
        self.state = "done"
        return encode_frame(Welcome({}))

    def _refuse(self, told: str, raised: str | None = None) -> bytes:
        """The ERROR frame that tells the client why; :attr:`refusal` is what to raise."""
        self.state = "refused"
        self.refusal = AuthenticationFailed(raised or told)
        return encode_frame(Error(0, "AuthenticationFailed", told))
