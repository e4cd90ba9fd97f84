"""Fixtures shared by the unit tests: every event loop hubcore supports, and a client whose
connections are in-memory pairs (:mod:`tests.unit.memory_peers`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from tests.conftest import ANYIO_BACKENDS
from tests.unit.memory_peers import MemoryClient


@pytest.fixture(params=ANYIO_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    """asyncio, uvloop and trio; a module that needs fewer overrides this."""
    return request.param


@pytest.fixture
async def client() -> AsyncIterator[MemoryClient]:
    """A client over in-memory connections, for as long as the test runs."""
    async with anyio.create_task_group() as tg:
        yield MemoryClient(tg)
        tg.cancel_scope.cancel()
