"""Fixtures for tests with real sockets: a hub in the test process, on asyncio, uvloop and
trio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import hubcore
from tests.conftest import ANYIO_BACKENDS


@pytest.fixture(params=ANYIO_BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> object:
    return request.param


@pytest.fixture
async def hub(rundir: Path) -> AsyncIterator[hubcore.Hub]:
    """A hub served by the test process in a private run directory."""
    async with hubcore.serve_hub(rundir / "hub.sock") as running:
        yield running


@pytest.fixture
async def client(hub: hubcore.Hub) -> AsyncIterator[hubcore.Client]:
    """A client of ``hub`` in the test process."""
    async with hubcore.connect(hub.address, token=hub.token, process="test") as connected:
        yield connected


@pytest.fixture
def hub_env(hub: hubcore.Hub) -> dict[str, str]:
    """The environment a process needs to join ``hub``."""
    return {"HUBCORE_ADDRESS": hub.address, "HUBCORE_TOKEN_FILE": hub.token_file}
