"""The plugin with nothing but ``hubcore[pytest]`` installed, on the toy app.

CI runs this folder as ``pytest --hub-procfile=tests/plugin/apps/toy/procfile.py`` in a fresh
venv: no pytest-xdist, pytest-timeout, trio or uvloop, and the installed hubcore (not the
repository's).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

import hubcore

REPO = Path(__file__).resolve().parents[2]


def test_hubcore_is_the_installed_one_and_nothing_else_is():
    assert Path(hubcore.__file__).resolve().parent != REPO / "hubcore"
    assert "site-packages" in Path(hubcore.__file__).parts
    for absent in ("xdist", "pytest_timeout", "trio", "uvloop"):
        assert importlib.util.find_spec(absent) is None, f"{absent} should not be installed"


def test_sync_call_goes_through_another_process(proxy, hub_app):
    result = proxy("caller").bump()
    assert result["count"] >= 1
    assert result["via"] != os.getpid()
    record = hub_app.calls.assert_called_once("counter.increment")
    assert (record.caller, record.callee) == ("worker", "background")


@pytest.mark.anyio
async def test_async_call_on_asyncio(proxy, anyio_backend):
    assert anyio_backend == "asyncio"
    assert await proxy("counter").increment(2) >= 2


def test_kill_is_an_expected_crash_and_the_proxy_recovers(hub_app, proxy):
    counter = proxy("counter", timeout=10)
    before = counter.get_pid()
    hub_app.kill("background")
    assert counter.get_pid() != before
