"""The ``page_snapshot`` service: one headless Chromium, kept for the life of the process.

How it works: ``start()`` launches Debian's ``/usr/bin/chromium`` through Playwright and keeps
the browser. Each :meth:`PageSnapshot.take` opens a fresh browser context (its own cookies and
cache) with one page, loads the URL, screenshots it as JPEG and closes the context, so takes
never see each other's state. A semaphore bounds the pages open at once. If Chromium dies
under us the process exits, and the supervisor restarts it with a fresh browser.

Errors cross the hub by builtin type: a page that cannot load raises ``ValueError`` and one
that does not finish loading in ``page_timeout`` raises ``TimeoutError``, both naming the URL.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psutil
from playwright.async_api import Browser, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

import hubcore
from services.checks import check_request

CHROMIUM = "/usr/bin/chromium"
# What a root, sandbox-less, offline machine needs: no sandbox (root), no GPU, and none of
# the background traffic (updates, sync, QUIC probes) that would only time out here.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
CLOSE_TIMEOUT = 5.0
BROWSER_GONE_EXIT = 70  # EX_SOFTWARE: the supervisor restarts the process


class PageSnapshot(hubcore.Service):
    """Screenshots of web pages, taken by a browser this process owns.

    Config: ``max_pages`` (4) pages at once, ``page_timeout`` (15.0 s) for loading and for
    capturing a page, ``chromium`` (``/usr/bin/chromium``) the browser executable.
    """

    async def start(self) -> None:
        """Launch Chromium and keep it.

        :raises playwright.async_api.Error: Chromium is missing or does not start.
        """
        config = self.ctx.config
        self._page_timeout = float(config.get("page_timeout", 15.0))
        self._pages = anyio.Semaphore(int(config.get("max_pages", 4)))
        self._closing = False
        self._taken = 0
        self._tmpdir = private_tmpdir()
        started = time.perf_counter()
        self._playwright: Playwright = await async_playwright().start()
        try:
            self._browser: Browser = await self._playwright.chromium.launch(
                executable_path=config.get("chromium", CHROMIUM),
                headless=True,
                args=list(CHROMIUM_FLAGS),
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._playwright.stop()
            raise
        self._browser.on("disconnected", self._on_disconnected)
        self._started_in = time.perf_counter() - started
        self.ctx.logger.info(
            "chromium %s started in %.2fs", self._browser.version, self._started_in
        )

    async def stop(self) -> None:
        """Close the browser and the Playwright driver."""
        self._closing = True
        with anyio.move_on_after(CLOSE_TIMEOUT):
            await self._browser.close()
        with anyio.move_on_after(CLOSE_TIMEOUT):
            await self._playwright.stop()
        shutil.rmtree(self._tmpdir, ignore_errors=True)
        self.ctx.logger.info("chromium closed after %d snapshots", self._taken)

    def _on_disconnected(self, _browser: Browser) -> None:
        if self._closing:
            return
        # Without its browser this process is useless; a restart gives it a fresh one, and
        # callers in flight get ProcessCrashed at once instead of waiting for their timeout.
        print("page_snapshot: chromium went away: exiting for a restart", file=sys.stderr)
        sys.stderr.flush()
        os._exit(BROWSER_GONE_EXIT)

    async def take(
        self,
        url: str,
        *,
        width: int = 1280,
        height: int = 800,
        full_page: bool = False,
        quality: int = 60,
    ) -> bytes:
        """Load ``url`` in a ``width`` x ``height`` viewport and return a JPEG of it.

        :param full_page: capture the whole scrollable page, not just the viewport.
        :param quality: JPEG quality, 1 to 100.
        :raises ValueError: a bad argument, or the page failed to load (the message names it).
        :raises TimeoutError: the page did not load, or capture, within ``page_timeout``.
        :return: the JPEG bytes.
        """
        check_request(url, width, height, quality)
        async with self._pages:
            context = await self._browser.new_context(viewport={"width": width, "height": height})
            try:
                page = await context.new_page()
                await self._load(page, url)
                jpeg = await self._capture(page, url, full_page=full_page, quality=quality)
            finally:
                # Shielded: a cancelled call (the caller timed out) must still close its page.
                with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_TIMEOUT):
                    await context.close()
        self._taken += 1
        return jpeg

    async def _load(self, page: Page, url: str) -> None:
        try:
            await page.goto(url, wait_until="load", timeout=self._page_timeout * 1000)
        except PlaywrightTimeout:
            raise TimeoutError(
                f"{url} did not finish loading within {self._page_timeout:g}s"
            ) from None
        except PlaywrightError as exc:
            raise ValueError(f"could not load {url}: {_first_line(exc.message)}") from None

    async def _capture(self, page: Page, url: str, *, full_page: bool, quality: int) -> bytes:
        try:
            jpeg: bytes = await page.screenshot(
                type="jpeg",
                quality=quality,
                full_page=full_page,
                timeout=self._page_timeout * 1000,
            )
        except PlaywrightTimeout:
            raise TimeoutError(
                f"{url}: the screenshot took longer than {self._page_timeout:g}s"
            ) from None
        except PlaywrightError as exc:
            raise ValueError(f"could not capture {url}: {_first_line(exc.message)}") from None
        return jpeg

    def status(self) -> dict[str, Any]:
        """Which browser runs, how long it took to start, snapshots taken, pages open now."""
        return {
            "browser": self._browser.version,
            "started_in": round(self._started_in, 3),
            "snapshots": self._taken,
            "open_pages": len(self._browser.contexts),
            "pid": os.getpid(),
        }


def private_tmpdir() -> Path:
    """Make this process's temp dir, the TMPDIR of Playwright and Chromium from now on.

    A browser that is killed (a crash, the memory limit) leaves its profile behind, ~1.3 MB.
    Each start removes the dirs of the processes that are gone, so they do not pile up.
    """
    base = Path(tempfile.gettempdir())
    for old in base.glob("page-snapshot-*"):
        pid = old.name.rpartition("-")[2]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = base / f"page-snapshot-{os.getpid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = str(path)  # inherited by the Playwright driver, then Chromium
    return path


def _first_line(message: str) -> str:
    # Playwright appends a multi-line "Call log"; the first line says what went wrong.
    return message.strip().splitlines()[0] if message.strip() else "unknown error"
