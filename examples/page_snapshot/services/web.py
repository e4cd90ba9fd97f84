"""The ``web`` service: ``GET /?url=...`` answers with a JPEG taken by ``page_snapshot``.

How it works: ``start()`` gets a proxy for ``page_snapshot`` and starts an aiohttp server on
the worker's own event loop (hubcore.worker runs anyio on asyncio), then returns; ``stop()``
closes the listener and the connections. Each request is checked here (400 without a round
trip), sent to the browser process through the hub with the ``snapshot_timeout`` call timeout,
and what went wrong over there becomes a status code:

- the page_snapshot process died with the call in flight: 503
- page_snapshot is not published (restarting for longer than the timeout): 503
- the call, or the page's own load, timed out: 504
- anything else (the page could not be loaded, ...): 502

Every request logs one line: method, path, status, duration.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

import hubcore
from services.checks import check_request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SHUTDOWN_TIMEOUT = 3.0  # seconds for requests in flight at stop; the worker allows stop() 10


class Web(hubcore.Service):
    """HTTP front end for page snapshots.

    Config: ``host`` (127.0.0.1), ``port`` (required), ``snapshot_timeout`` (20.0 s) for the
    whole call to ``page_snapshot.take``, also the wait for it to be published.
    """

    async def start(self) -> None:
        """Start serving; returns once the port is bound.

        :raises OSError: the port is taken.
        """
        config = self.ctx.config
        self._host = str(config.get("host", "127.0.0.1"))
        self._port = int(config["port"])
        timeout = float(config.get("snapshot_timeout", 20.0))
        # The proxy outlives restarts of the browser process: a call made while it restarts
        # waits (within its timeout) for the new instance.
        self._snapshots = await self.ctx.get_proxy("page_snapshot", timeout=timeout)
        app = web.Application(middlewares=[self._log_request])
        app.router.add_get("/", self._snapshot)
        # handle_signals=False: SIGTERM/SIGINT belong to hubcore.worker, which calls stop().
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, self._host, self._port).start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.ctx.logger.info("serving on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close the connections (in-flight requests get a few seconds)."""
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        """Where the service listens."""
        return f"http://{self._host}:{self._port}/"

    @web.middleware
    async def _log_request(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500  # what aiohttp answers if the handler raises
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # aiohttp's own answers: 404, 405, ...
            status = exc.status
            raise
        finally:
            elapsed = time.perf_counter() - started
            self.ctx.logger.info("%s %s %d %.3fs", request.method, request.path_qs, status, elapsed)

    async def _snapshot(self, request: web.Request) -> web.Response:
        try:
            url, width, height = _parse_query(request.query)
            # Sizes travel only when asked for: page_snapshot.take has the same defaults.
            sizes = {k: v for k, v in (("width", width), ("height", height)) if k in request.query}
        except ValueError as exc:
            return _text(400, str(exc))
        try:
            jpeg = await self._snapshots.take(url, **sizes)
        except Exception as exc:
            status, reason = _failure(exc)
            self.ctx.logger.warning("snapshot of %s failed: %s", url, reason)
            return _text(status, reason)
        return web.Response(body=jpeg, content_type="image/jpeg")


def _parse_query(query: Mapping[str, str]) -> tuple[str, int, int]:
    """Return ``(url, width, height)`` from the query string.

    :raises ValueError: one line saying what is missing or wrong.
    """
    url = query.get("url")
    if not url:
        raise ValueError("missing url: ask for /?url=https://example.org/")
    sizes = []
    for name, default in (("width", 1280), ("height", 800)):
        raw = query.get(name, str(default))
        try:
            sizes.append(int(raw))
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    check_request(url, *sizes)
    return url, sizes[0], sizes[1]


def _failure(exc: Exception) -> tuple[int, str]:
    """Map a failed ``take`` to a status code and a one-line reason."""
    if isinstance(exc, hubcore.ProcessCrashed):
        return 503, f"the browser process crashed: {_one_line(exc)}"
    if isinstance(exc, hubcore.ObjectNotFound):
        return 503, f"the browser process is not available: {_one_line(exc)}"
    if isinstance(exc, TimeoutError):  # CallTimeout, or the page's own load timeout
        return 504, f"snapshot timed out: {_one_line(exc)}"
    return 502, f"snapshot failed: {_one_line(exc)}"


def _one_line(exc: Exception) -> str:
    # A RemoteError's str() carries the remote traceback; its message alone is the reason.
    text = exc.message if isinstance(exc, hubcore.RemoteError) else str(exc)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")
