"""Fixtures for the page-snapshot example's tests: a page to photograph, served locally.

The example drives Debian's Chromium. Without it, the tests that boot the example skip with a
one-line reason that says how to install it; under ``CI=true`` they fail instead, so that CI
never passes without having run them.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from tests.chromium import CHROMIUM_ENV, require_chromium

__all__ = ("BOX", "CHROMIUM_ENV", "page_server", "page_url")

# The web service's call timeout: shorter than the default 20 s, for the 504 test to wait,
# long enough for 8 concurrent snapshots on a loaded 2-core machine. Read by the
# example's procfile when the plugin boots it (in this process).
os.environ.setdefault("HUBCORE_PAGE_SNAPSHOT_TIMEOUT", "10")

BOX = {"left": 100, "top": 60, "width": 200, "height": 120, "rgb": (220, 30, 40)}
PAGE = f"""<!doctype html><html><body style="margin:0;background:#fff">
<div style="position:absolute;left:{BOX["left"]}px;top:{BOX["top"]}px;width:{BOX["width"]}px;
height:{BOX["height"]}px;background:rgb{BOX["rgb"]}"></div></body></html>""".encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if urlparse(self.path).path == "/slow":
            time.sleep(3)  # a page that takes long to answer: a request stays in flight
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def page_server() -> Iterator[str]:
    """Base URL of a local page with a coloured box at a known place."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def page_url(page_server: str) -> str:
    """The box page."""
    return f"{page_server}/box"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture: a test that boots the example needs the browser."""
    if "hub_app" in getattr(item, "fixturenames", ()):
        require_chromium("the example's tests need")
