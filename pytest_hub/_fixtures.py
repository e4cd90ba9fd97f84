"""The plugin's fixtures: ``hub_app``, ``hub_app_factory`` and ``proxy``."""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

import hubcore
import hubcore.sync
from pytest_hub import _settings
from pytest_hub._async_handle import AsyncHubApp
from pytest_hub._handle import TEST_PROCESS, HubApp

__all__ = (
    "HUB_APP_KEY",
    "SESSION_KEY",
    "HubSession",
    "hub_app",
    "hub_app_factory",
    "proxy",
)

HUB_APP_KEY = pytest.StashKey[HubApp]()


class HubSession:
    """The apps booted in this pytest process (one per procfile + replacements)."""

    def __init__(self, settings: _settings.Settings) -> None:
        self.settings = settings
        self.apps: dict[tuple[Path, tuple[tuple[str, str], ...]], HubApp] = {}
        self.closed: list[HubApp] = []
        #: Apps that failed to boot, with their error: raised again for every later test that
        #: needs them, as pytest does with a session fixture that failed, rather than booting
        #: again (and waiting up to the boot timeout) for each.
        self.failed: dict[
            tuple[Path, tuple[tuple[str, str], ...]], tuple[BaseException, TracebackType | None]
        ] = {}

    def boot(self, procfile: Path, replace: dict[str, str]) -> HubApp:
        """Boot an app in a fresh private run directory (own free ports: xdist-safe)."""
        if not procfile.exists():
            raise pytest.UsageError(f"hub procfile not found: {procfile}")
        rundir = Path(tempfile.mkdtemp(prefix="hubpt-")) / "app"  # HubApp.close removes it
        app = hubcore.App(
            procfile,
            rundir=rundir,
            boot_timeout=self.settings.boot_timeout,
            replace=replace,
            trace=True,
        )
        try:
            return HubApp(app)
        except BaseException:
            shutil.rmtree(rundir.parent, ignore_errors=True)  # the error says what went wrong
            raise

    def shared(self, procfile: Path, replace: dict[str, str]) -> HubApp:
        """The session's app for this procfile and replacements, booted on first use."""
        key = (procfile, tuple(sorted(replace.items())))
        if key in self.failed:
            error, traceback = self.failed[key]  # its traceback as first raised, not grown
            raise error.with_traceback(traceback)
        if key not in self.apps:
            try:
                self.apps[key] = self.boot(procfile, replace)
            except Exception as exc:  # BootFailed, TimeoutError, a procfile error...
                self.failed[key] = (exc, exc.__traceback__)
                raise
        return self.apps[key]

    def close(self) -> None:
        """Stop every app."""
        for app in [*self.apps.values()]:
            app.close()
            self.closed.append(app)
        self.apps.clear()


SESSION_KEY = pytest.StashKey[HubSession]()


def _session(config: pytest.Config) -> HubSession:
    if SESSION_KEY not in config.stash:
        config.stash[SESSION_KEY] = HubSession(_settings.Settings.from_config(config))
    return config.stash[SESSION_KEY]


def _begin(item: pytest.Item, handle: HubApp) -> HubApp:
    handle.begin_test(_session(item.config).settings.boot_timeout, _settings.allowed_crashes(item))
    item.stash[HUB_APP_KEY] = handle
    return handle


def _is_async_test(request: pytest.FixtureRequest) -> bool:
    return inspect.iscoroutinefunction(getattr(request.node, "function", None))


@pytest.fixture
def hub_app(request: pytest.FixtureRequest, _hub_handle: HubApp) -> HubApp | AsyncHubApp:
    """The procfile topology, booted once per session (per xdist worker) and healthy again
    before each test.

    ``hub_app.calls`` (cross-process calls of this test), ``.inject(...)``, ``.kill(p)``,
    ``.restart(p)``, ``.pause(p)``, ``.processes``, ``.logs(p)``, ``.config(service)``.
    In an async test it is an ``AsyncHubApp``: ``kill``, ``restart``, ``wait_ready`` and
    ``calls.wait_for`` are awaited and ``inject`` is an ``async with``.
    The procfile comes from ``@pytest.mark.hub_procfile(path)``, ``--hub-procfile`` or the
    ``hub_procfile`` ini option; ``@pytest.mark.hub_replace(service, "module:Fake")`` runs a
    test double in place of a service.
    """
    return AsyncHubApp(_hub_handle) if _is_async_test(request) else _hub_handle


@pytest.fixture
def _hub_handle(request: pytest.FixtureRequest) -> HubApp:
    """The session's app for this test's procfile and replacements, made healthy for it."""
    item = request.node
    session = _session(request.config)
    procfile = _settings.marker_procfile(item) or session.settings.procfile
    if procfile is None:
        raise pytest.UsageError(
            "hub_app needs a procfile: pass --hub-procfile PATH, set hub_procfile in the ini "
            "file, or mark the test with @pytest.mark.hub_procfile(path)"
        )
    return _begin(item, session.shared(procfile, _settings.replacements(item)))


@pytest.fixture
def hub_app_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., HubApp]]:
    """Boot another topology for this test: ``hub_app_factory(procfile, replace={...})``.

    Each app is stopped (and checked for leftovers) when the test ends.
    """
    session = _session(request.config)
    booted: list[HubApp] = []

    def factory(procfile: str | Path, *, replace: dict[str, str] | None = None) -> HubApp:
        path = Path(request.node.path.parent, procfile).resolve()
        handle = session.boot(path, replace or {})
        booted.append(handle)
        return _begin(request.node, handle)

    yield factory
    for handle in booted:
        handle.close()
        session.closed.append(handle)  # counted in the session summary


@pytest.fixture
def proxy(request: pytest.FixtureRequest, _hub_handle: HubApp) -> Callable[..., Any]:
    """``proxy(name, timeout=None, instance=None)``: awaitable methods in an async test,
    blocking ones in a sync test. The default timeout is ``hub_timeout`` (marker) or
    ``--hub-call-timeout``."""
    default = (
        _settings.marker_timeout(request.node) or _session(request.config).settings.call_timeout
    )
    if _is_async_test(request):
        client: hubcore.Client = request.getfixturevalue("_hub_async_client")

        def make_async(name: str, timeout: float | None = None, instance: int | None = None) -> Any:
            try:
                return client.get_proxy_nowait(name, timeout=timeout or default, instance=instance)
            except hubcore.ObjectNotFound:
                pass  # not published right now: its first call waits for it
            return hubcore.Proxy(client, name, timeout=timeout or default, instance=instance)

        return make_async

    def make_sync(name: str, timeout: float | None = None, instance: int | None = None) -> Any:
        return _hub_handle._sync_proxy(name, timeout or default, instance)

    return make_sync


@pytest.fixture
async def _hub_async_client(_hub_handle: HubApp) -> AsyncIterator[hubcore.Client]:
    """A traced client in the test's own event loop (for async tests' proxies)."""
    handle = _hub_handle
    token = Path(handle.token_file).read_bytes()
    async with hubcore.connect(handle.address, token=token, process=TEST_PROCESS) as client:
        tracer = client.tracer = hubcore.Tracer(TEST_PROCESS, 0)
        handle.test_tracers.append(tracer)
        try:
            yield client
        finally:
            handle.test_tracers.remove(tracer)
            handle.all_calls.extend(tracer.drain())  # its last calls, for the session's totals
