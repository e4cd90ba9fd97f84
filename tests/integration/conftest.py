"""Fixtures for tests with real sockets: a hub in the test process, on asyncio, uvloop and
trio."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import hubcore
import hubcore.sync
from tests.conftest import ANYIO_BACKENDS, Spawner


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


@pytest.fixture
def sync_hub(spawn: Spawner, rundir: Path) -> Iterator[tuple[hubcore.sync.Client, dict[str, str]]]:
    """A hub in its own process (a blocking test has no event loop to run one in), a blocking
    client of it, and the environment a process needs to join it."""
    proc = spawn.python(
        "-m", "tests.integration.apps.hub_process", str(rundir / "hub.sock"), stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the hub prints READY once it listens (bounded by the test)
    assert line.startswith(b"READY"), line
    token = (rundir / "token").read_bytes()
    with hubcore.sync.connect(rundir / "hub.sock", token=token) as client:
        yield (
            client,
            {
                "HUBCORE_ADDRESS": str(rundir / "hub.sock"),
                "HUBCORE_TOKEN_FILE": str(rundir / "token"),
            },
        )
