"""The page-snapshot example, for real: HTTP in, hub call to a headless Chromium, JPEG out."""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
from PIL import Image

from tests.example.conftest import BOX

PROCFILE = Path(__file__).parents[2] / "examples" / "page_snapshot" / "procfile.py"
pytestmark = [pytest.mark.hub_procfile(str(PROCFILE)), pytest.mark.timeout(120)]


def get(hub_app, timeout: float = 30, **query: object) -> tuple[int, bytes]:
    """GET the web service; return (status, body) for any status."""
    port = hub_app.config("web")["port"]
    url = f"http://127.0.0.1:{port}/?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_snapshot_has_the_size_and_the_colours_of_the_page(hub_app, page_url):
    status, body = get(hub_app, url=page_url, width=640, height=400)
    assert status == 200, body
    image = Image.open(io.BytesIO(body))
    assert (image.format, image.size) == ("JPEG", (640, 400))
    rgb = image.convert("RGB")
    centre = (BOX["left"] + BOX["width"] // 2, BOX["top"] + BOX["height"] // 2)
    assert _close(rgb.getpixel(centre), BOX["rgb"])
    assert _close(rgb.getpixel((20, 20)), (255, 255, 255))
    assert _close(rgb.getpixel((BOX["left"] + BOX["width"] + 30, centre[1])), (255, 255, 255))


def test_snapshot_is_one_call_from_worker_to_background(hub_app, page_url):
    status, _ = get(hub_app, url=page_url, width=320, height=200)
    assert status == 200
    call = hub_app.calls.assert_called_once("page_snapshot.take", page_url, width=320, height=200)
    assert (call.caller, call.callee, call.outcome) == ("worker", "background", "result")


def test_default_size_sends_the_url_alone(hub_app, page_url):
    """As the plugin's guide has it: ``assert_called_once("page_snapshot.take", page_url)``."""
    status, body = get(hub_app, url=page_url)
    assert status == 200
    assert Image.open(io.BytesIO(body)).size == (1280, 800)
    hub_app.calls.assert_called_once("page_snapshot.take", page_url)


def test_eight_concurrent_requests_all_succeed(hub_app, page_url):
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(lambda _: get(hub_app, url=page_url, width=400, height=300), range(8))
        )
    assert [status for status, _ in results] == [200] * 8
    assert all(body[:2] == b"\xff\xd8" for _, body in results)
    assert hub_app.calls.count("page_snapshot.take") == 8


def test_browser_crash_answers_503_and_the_next_request_works(hub_app, page_server, proxy):
    background = hub_app.processes["background.0"]["pid"]
    browser = [p.pid for p in psutil.Process(background).children(recursive=True)]
    assert browser, "page_snapshot should have started Chromium"
    snapshots = proxy("page_snapshot")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(get, hub_app, url=f"{page_server}/slow")
        hub_app.calls  # noqa: B018  (a refresh: nothing recorded yet, the call is in flight)
        _wait_for_open_page(snapshots)
        hub_app.kill("background")
        status, body = pending.result(timeout=10)
    assert status == 503, body
    assert b"crashed" in body
    _, alive = psutil.wait_procs([_proc(pid) for pid in browser if _proc(pid)], timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    hub_app.wait_ready(60)
    status, body = get(hub_app, url=f"{page_server}/box", width=320, height=200)
    assert status == 200, body


def test_slow_snapshot_answers_504_within_the_configured_timeout(hub_app, page_url):
    timeout = hub_app.config("web")["snapshot_timeout"]
    with hub_app.inject("page_snapshot.take", delay=timeout + 30):
        status, body = get(hub_app, timeout=timeout + 10, url=page_url)
    assert status == 504, body
    call = hub_app.calls.assert_called_once("page_snapshot.take")
    assert call.outcome == "timeout"
    assert call.duration < timeout + 1


@pytest.mark.parametrize(
    "query",
    [{}, {"url": "file:///etc/passwd"}, {"url": "ftp://x/"}, {"url": "http://x/", "width": "w"}],
)
def test_bad_requests_get_400_and_reach_nothing(hub_app, query):
    status, body = get(hub_app, **query)
    assert status == 400
    assert body.count(b"\n") == 1
    hub_app.calls.assert_not_called("page_snapshot.take")


def _wait_for_open_page(snapshots, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while snapshots.status()["open_pages"] < 1:
        assert time.monotonic() < deadline, "the slow page never opened"
        time.sleep(0.02)  # the page opens in another process, which tells nobody


def _proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))
