"""Translate OS and anyio errors into hubcore errors, once, at the transport boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio

from hubcore._errors import ConnectionLost, reason

__all__ = ("map_exceptions",)


@contextmanager
def map_exceptions(what: str) -> Iterator[None]:
    """Re-raise transport failures as :class:`ConnectionLost` saying what was being done."""
    try:
        yield
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
        raise ConnectionLost(f"{what}: {reason(exc)}") from exc
