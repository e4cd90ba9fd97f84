"""The frames of the handshake: HELLO, CHALLENGE, AUTH, WELCOME (docs/protocol.md). The
exchange itself is :mod:`hubcore.protocol._handshake`; the proofs are :mod:`._auth`."""

from __future__ import annotations

from typing import Any, ClassVar

from hubcore.protocol._fields import required
from hubcore.protocol._kinds import _AUTH, _CHALLENGE, _HELLO, _WELCOME, Kind, frame_class

__all__ = ("Auth", "Challenge", "Hello", "Welcome")


@frame_class
class Hello:
    """HELLO: the client opens the handshake with its nonce and who it is."""

    KIND: ClassVar[Kind] = Kind.HELLO
    version: int
    nonce: bytes
    info: dict[str, Any]

    def to_wire(self) -> list[Any]:
        return [_HELLO, 0, self.version, self.nonce, self.info]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Hello:
        k = Kind.HELLO
        return cls(
            required(f, 2, k, "version", int), required(f, 3, k, "nonce", bytes), _info(f, 4, k)
        )


@frame_class
class Challenge:
    """CHALLENGE: the server's nonce and its proof over the client's nonce."""

    KIND: ClassVar[Kind] = Kind.CHALLENGE
    nonce: bytes
    proof: bytes
    info: dict[str, Any]

    def to_wire(self) -> list[Any]:
        return [_CHALLENGE, 0, self.nonce, self.proof, self.info]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Challenge:
        k = Kind.CHALLENGE
        nonce, proof = required(f, 2, k, "nonce", bytes), required(f, 3, k, "proof", bytes)
        return cls(nonce, proof, _info(f, 4, k))


@frame_class
class Auth:
    """AUTH: the client's proof over the server's nonce."""

    KIND: ClassVar[Kind] = Kind.AUTH
    proof: bytes

    def to_wire(self) -> list[Any]:
        return [_AUTH, 0, self.proof]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Auth:
        return cls(required(f, 2, Kind.AUTH, "proof", bytes))


@frame_class
class Welcome:
    """WELCOME: the server accepted the client (``info`` is empty today)."""

    KIND: ClassVar[Kind] = Kind.WELCOME
    info: dict[str, Any]

    def to_wire(self) -> list[Any]:
        return [_WELCOME, 0, self.info]

    @classmethod
    def from_wire(cls, f: list[Any]) -> Welcome:
        return cls(_info(f, 2, Kind.WELCOME))


def _info(f: list[Any], i: int, kind: Kind) -> dict[str, Any]:
    info: dict[str, Any] = required(f, i, kind, "info", dict)
    return info
