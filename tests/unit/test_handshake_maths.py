"""Handshake maths: role-separated HMAC proofs and their verification."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from hubcore.protocol import NONCE_SIZE, proof, verify

TOKEN = b"t" * 32
NONCE = bytes(range(NONCE_SIZE))


def test_handshake_proof_is_hmac_sha256_of_role_and_nonce() -> None:
    """Both ends compute this independently: the formula is part of the wire format."""
    expected = hmac.new(TOKEN, b"client\0" + NONCE, hashlib.sha256).digest()
    assert proof(TOKEN, b"client", NONCE) == expected
    assert len(expected) == 32


def test_handshake_proof_is_deterministic() -> None:
    assert proof(TOKEN, b"server", NONCE) == proof(TOKEN, b"server", NONCE)


def test_handshake_proof_differs_by_role() -> None:
    """A server's proof can't be replayed as a client's over the same nonce."""
    assert proof(TOKEN, b"client", NONCE) != proof(TOKEN, b"server", NONCE)


def test_handshake_proof_differs_by_nonce() -> None:
    other = bytes(reversed(NONCE))
    assert proof(TOKEN, b"client", NONCE) != proof(TOKEN, b"client", other)


def test_handshake_proof_differs_by_token() -> None:
    assert proof(TOKEN, b"client", NONCE) != proof(b"u" * 32, b"client", NONCE)


def test_handshake_verify_accepts_the_right_proof() -> None:
    assert verify(TOKEN, b"client", NONCE, proof(TOKEN, b"client", NONCE)) is True


@pytest.mark.parametrize(
    "digest",
    [
        proof(TOKEN, b"server", NONCE),
        proof(TOKEN, b"client", NONCE[:-1] + b"\xff"),
        proof(b"wrong token", b"client", NONCE),
        proof(TOKEN, b"client", NONCE)[:-1],
        proof(TOKEN, b"client", NONCE) + b"\0",
        bytes([proof(TOKEN, b"client", NONCE)[0] ^ 1]) + proof(TOKEN, b"client", NONCE)[1:],
        b"",
        b"\0" * 32,
    ],
    ids=[
        "wrong role",
        "wrong nonce",
        "wrong token",
        "truncated",
        "extended",
        "bit flip",
        "empty",
        "zeros",
    ],
)
def test_handshake_verify_rejects_a_wrong_proof(digest: bytes) -> None:
    assert verify(TOKEN, b"client", NONCE, digest) is False


@pytest.mark.parametrize(
    "digest",
    [
        None,
        proof(TOKEN, b"client", NONCE).hex(),
        proof(TOKEN, b"client", NONCE).decode("latin-1"),
        "",
        0,
        [1, 2],
        bytearray(proof(TOKEN, b"client", NONCE)),
    ],
    ids=["None", "hex str", "latin-1 str", "empty str", "int", "list", "bytearray"],
)
def test_handshake_verify_rejects_non_bytes_without_raising(digest: object) -> None:
    """The peer controls this value: anything but bytes is a plain refusal."""
    assert verify(TOKEN, b"client", NONCE, digest) is False
