"""Smoke test of the page_snapshot app, by hand or in CI: real processes, real Chromium.

    python examples/page_snapshot/smoke.py [--save docs/images/page-snapshot.jpg] [-v]

Boots the app with :class:`hubcore.App` (run directory in a short temp dir), serves a tiny
page on 127.0.0.1 from a thread, and asks the web service for snapshots of it: the JPEG, the
400/502/503/504 answers (a slow page, a paused and a killed browser process), a restart of
the browser process, and at the end that no Chromium process outlived the app. Prints one
line per check with its timing, then ``smoke: N passed, N failed``; exits 1 if any check
failed. Run it alone: its last checks look at every Chromium process started meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import psutil

import hubcore

HERE = Path(__file__).resolve().parent
PAGE_TIMEOUT = 2.0  # the browser gives up on a page after this ...
# ... and the web service on the call after this: 8 concurrent snapshots on 4 pages make the
# second four wait for a page behind the first, and a take alone can last 3 s on a busy machine.
SNAPSHOT_TIMEOUT = 8.0
SLOW_SECONDS = 3.0  # how long /slow.png keeps a page from finishing loading
BROWSER_NAMES = ("chromium", "chrome", "chrome_crashpad")

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>page_snapshot</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; font: 21px/1.4 sans-serif; background: #f6f7f9; color: #1d2330; }
  main { padding: 34px 44px; width: 960px; }
  h1 { margin: 0 0 26px; }
  .row { display: flex; gap: 12px; align-items: center; }
  .box { padding: 14px 20px; border-radius: 10px; color: white; }
  .box small { display: block; opacity: .85; white-space: nowrap; }
  .web { background: #2f6fdf; width: 270px; } .bg { background: #e0493b; width: 370px; }
  .hub { background: #6b7280; width: 872px; margin-top: 18px; }
  .call { text-align: center; color: #586174; font-size: 16px; width: 206px; }
  .call b { display: block; font-size: 30px; color: #1d2330; }
  p { margin: 26px 0 0; color: #3b4252; font-size: 18px; }
  code { background: #e6e9ef; padding: 1px 6px; border-radius: 5px; }
</style></head>
<body><main>
  <h1>Taken by page_snapshot</h1>
  <div class="row">
    <div class="box web">worker<small>web: aiohttp on port N</small></div>
    <div class="call"><b>&rarr;</b>proxy.take(url)<br>peer to peer</div>
    <div class="box bg">background<small>page_snapshot + headless Chromium</small></div>
  </div>
  <div class="box hub">hub + supervisor<small>knows who publishes what; restarts background
    after a crash or past its memory limit</small></div>
  <p><code>GET /?url=</code> &rarr; 200 image/jpeg &middot; 400 bad url &middot; 502 page failed
     &middot; 503 crashed &middot; 504 timeout</p>
</main></body></html>
"""
SLOW_PAGE = b'<!doctype html><p>waiting for an image<img src="/slow.png"></p>'


class _Pages(BaseHTTPRequestHandler):
    """``/`` the demo page, ``/slow`` a page whose image takes SLOW_SECONDS to fail."""

    def do_GET(self) -> None:
        if self.path == "/slow.png":
            time.sleep(SLOW_SECONDS)  # bounded: the server thread is a daemon anyway
            with contextlib.suppress(OSError):  # the browser gave up on it long ago
                self.send_error(404)
            return
        body = SLOW_PAGE if self.path == "/slow" else PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # the browser may leave before the body
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the web service logs every request already


@contextlib.contextmanager
def serve_pages() -> Iterator[str]:
    """Serve the test pages on 127.0.0.1 from a thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="pages", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smoke_spec() -> Any:
    """The example's procfile, with timeouts short enough to test in seconds."""
    spec = hubcore.load_procfile(HERE / "procfile.py")
    overrides = {
        "page_snapshot": {"page_timeout": PAGE_TIMEOUT},
        "web": {"snapshot_timeout": SNAPSHOT_TIMEOUT},
    }
    services = {
        name: dataclasses.replace(svc, config={**svc.config, **overrides.get(name, {})})
        for name, svc in spec.services.items()
    }
    return dataclasses.replace(spec, services=services)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame marker, or None if there is none."""
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            return int.from_bytes(data[i + 7 : i + 9], "big"), height
        i += 2 + length
    return None


def browser_processes(since: float) -> list[psutil.Process]:
    """Live (not zombie) Chromium processes started after ``since``."""
    found = []
    for proc in psutil.process_iter(["name", "create_time", "status"]):
        info = proc.info
        if (
            any(n in (info["name"] or "") for n in BROWSER_NAMES)
            and (info["create_time"] or 0) >= since - 1
            and info["status"] != psutil.STATUS_ZOMBIE
        ):
            found.append(proc)
    return found


def tree_memory(pid: int) -> tuple[int, int]:
    """RSS summed as the supervisor's memory limit does, and PSS (shared pages split), in MiB."""
    rss = pss = 0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                rss, pss = rss + info.rss, pss + info.pss
    return rss >> 20, pss >> 20


class Smoke:
    """Runs checks against the booted app, records one line per check."""

    def __init__(self, http: aiohttp.ClientSession, web: str, pages: str) -> None:
        self.http, self.web, self.pages = http, web, pages
        self.passed = self.failures = 0

    def report(self, name: str, ok: bool, seconds: float, detail: str = "") -> None:
        self.passed += ok
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:<44} {seconds * 1000:8.0f} ms  {detail}")
        sys.stdout.flush()

    async def get(self, **params: Any) -> tuple[int, bytes, str, float]:
        started = time.perf_counter()
        async with self.http.get(self.web, params=params) as response:
            body = await response.read()
            return response.status, body, response.content_type, time.perf_counter() - started

    async def expect(self, name: str, status: int, **params: Any) -> bytes:
        got, body, _, seconds = await self.get(**params)
        detail = body.decode(errors="replace").strip() if got != 200 else f"{len(body)} bytes"
        self.report(name, got == status, seconds, f"{got}: {detail[:110]}")
        return body

    async def snapshot(self, name: str, width: int, height: int) -> tuple[bytes, float]:
        status, body, ctype, seconds = await self.get(
            url=self.pages + "/", width=width, height=height
        )
        size = jpeg_size(body)
        ok = status == 200 and ctype == "image/jpeg" and body[:2] == b"\xff\xd8"
        ok = ok and size == (width, height)
        self.report(name, ok, seconds, f"{status} {ctype} {len(body)} bytes, {size}")
        return body, seconds


async def timed(coro: Awaitable[Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    return await coro, time.perf_counter() - started


async def check_app(app: hubcore.App, smoke: Smoke, save: Path | None) -> None:
    status = await (await app.get_proxy("page_snapshot")).status()
    print(f"     browser: chromium {status['browser']}, started in {status['started_in']:.2f}s")
    first, _ = await smoke.snapshot("first snapshot (cold page)", 960, 540)
    if save is not None:
        save.write_bytes(first)
        print(f"     saved {save} ({len(first)} bytes)")
    warm = [(await smoke.snapshot(f"snapshot {i + 2}", 640, 400))[1] for i in range(5)]
    print(f"     warm snapshot median {statistics.median(warm) * 1000:.0f} ms")
    _, seconds = await timed(_concurrent(smoke, 8))
    print(f"     8 concurrent snapshots (4 pages at a time) in {seconds * 1000:.0f} ms")
    rss, pss = tree_memory(app.processes["background.0"].pid or 0)
    print(f"     background + chromium: RSS sum {rss} MiB (memory_limit counts it), PSS {pss} MiB")
    await smoke.expect("400: no url", 400)
    await smoke.expect("400: not http(s)", 400, url="file:///etc/passwd")
    await smoke.expect("400: bad width", 400, url=smoke.pages, width="wide")
    await smoke.expect("502: connection refused", 502, url=f"http://127.0.0.1:{closed_port()}/")
    await smoke.expect("504: page load timeout", 504, url=smoke.pages + "/slow")
    async with app.pause("background"):
        await smoke.expect("504: call timeout (browser process paused)", 504, url=smoke.pages)
    await check_pages_closed(app, smoke)
    await check_crash(app, smoke)
    await check_browser_crash(app, smoke)


async def _concurrent(smoke: Smoke, n: int) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(smoke.snapshot, f"concurrent snapshot {i + 1}", 320, 200)


async def check_pages_closed(app: hubcore.App, smoke: Smoke) -> None:
    """Takes that timed out or were cancelled closed their pages all the same."""
    proxy = await app.get_proxy("page_snapshot")
    started = time.perf_counter()
    for _ in range(50):  # the cancelled take finishes closing just after the call gave up
        status = await proxy.status()
        if status["open_pages"] == 0:
            break
        await anyio.sleep(0.1)
    seconds = time.perf_counter() - started
    smoke.report("no page left open after the timeouts", status["open_pages"] == 0, seconds)


async def check_crash(app: hubcore.App, smoke: Smoke) -> None:
    """Kill the browser process mid-call: 503 at once, then a restart with a new browser."""
    old = psutil.Process(app.processes["background.0"].pid or 0)
    old_tree = old.children(recursive=True)
    async with anyio.create_task_group() as tg:
        mid_call = functools.partial(smoke.expect, url=smoke.pages + "/slow")
        tg.start_soon(mid_call, "503: browser process killed mid-call", 503)
        await anyio.sleep(0.5)
        await app.kill("background")
    _, seconds = await timed(app.ready(30))
    smoke.report("background restarted and ready", True, seconds)
    await smoke.snapshot("snapshot after the restart", 640, 400)
    left = [p.pid for p in old_tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    smoke.report("old browser gone after the kill", not left, 0, f"left: {left}" if left else "")


async def check_browser_crash(app: hubcore.App, smoke: Smoke) -> None:
    """Kill Chromium itself: page_snapshot exits, the supervisor starts it with a new browser."""
    record = app.processes["background.0"]  # a live record: read its values now
    restarts, pid, browser = record.restarts, record.pid, browser_main(record.pid or 0)
    started = time.perf_counter()
    browser.kill()
    for _ in range(100):
        if app.processes["background.0"].restarts > restarts:
            break
        await anyio.sleep(0.1)
    await app.ready(30)
    ok = record.restarts > restarts and record.pid != pid
    seconds = time.perf_counter() - started
    smoke.report("chromium killed: background restarted", ok, seconds, f"exit {record.exit_code}")
    await smoke.snapshot("snapshot after chromium was killed", 640, 400)


def browser_main(worker_pid: int) -> psutil.Process:
    """The Chromium browser process (not a renderer or helper) under a worker."""
    for proc in psutil.Process(worker_pid).children(recursive=True):
        cmdline = proc.cmdline()
        if proc.name() == "chromium" and not any(a.startswith("--type=") for a in cmdline):
            return proc
    raise LookupError(f"no chromium browser process under pid {worker_pid}")


async def main(save: Path | None, verbose: bool) -> int:
    since = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="ps-", dir="/tmp") as rundir,
        serve_pages() as pages,
    ):
        app = hubcore.App(smoke_spec(), rundir=rundir, log_stream=sys.stderr if verbose else None)
        async with contextlib.AsyncExitStack() as stack:
            _, boot = await timed(stack.enter_async_context(app))
            print(f"     app booted in {boot:.2f}s (rundir {rundir})")
            config = app.config("web")
            web = f"http://{config['host']}:{config['port']}/"
            http = await stack.enter_async_context(aiohttp.ClientSession())
            smoke = Smoke(http, web, pages)
            try:
                await check_app(app, smoke, save)
            except Exception:
                for line in app.logs("background")[-30:] + app.logs("worker")[-30:]:
                    print(f"     | {line}")
                raise
            started = time.perf_counter()
        smoke.report("app stopped", True, time.perf_counter() - started)
    for _ in range(50):  # crashpad handlers exit on their own, shortly after the browser
        if not browser_processes(since):
            break
        await anyio.sleep(0.1)
    left = [f"{p.pid} {p.name()}" for p in browser_processes(since)]
    smoke.report("no chromium process left", not left, 0, ", ".join(left))
    profiles = [
        str(p)
        for p in Path(tempfile.gettempdir()).glob("page-snapshot-*")
        if p.stat().st_ctime >= since - 1
    ]
    smoke.report("no browser profile left in the temp dir", not profiles, 0, ", ".join(profiles))
    print(f"smoke: {smoke.passed} passed, {smoke.failures} failed")
    return 1 if smoke.failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write the first JPEG here")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the processes' logs")
    args = parser.parse_args()
    sys.exit(anyio.run(main, args.save, args.verbose))
