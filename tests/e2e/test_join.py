"""Joining a running app from a process outside its procfile: ``hubcore.connect(app=...)``,
``hubcore env``, and the web server of docs/apps.md, on uvloop.

The apps here run in their *default* run directory (no ``--rundir``), under a private
``XDG_RUNTIME_DIR``: that is the directory ``connect(app=)`` and ``hubcore env`` work out on
their own, so these tests check that they agree with ``hubcore start`` and ``hubcore.App``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

import hubcore
import hubcore.sync
from tests.e2e.test_cli import Cli, assert_gone, assert_one_line_error
from tests.lines import Lines

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "tests" / "apps" / "basic" / "procfile.py"
WEB = ROOT / "tests" / "apps" / "outside" / "web.py"
WEB_HEADER = "# tests/apps/outside/web.py\n"
HTTP_TIMEOUT = 30.0


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, short ``XDG_RUNTIME_DIR``: the default run directories are this test's own."""
    path = Path(tempfile.mkdtemp(prefix="hc-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    for name in ("HUBCORE_ADDRESS", "HUBCORE_TOKEN_FILE"):  # a hub of the caller's must not leak in
        monkeypatch.delenv(name, raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cli(runtime_dir: Path) -> Iterator[Cli]:
    """The ``hubcore`` command on the basic app's default run directory; kills what is left."""
    runner = Cli(hubcore.app_rundir(BASIC))
    try:
        yield runner
    finally:
        runner.cleanup()


def hubcore_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m hubcore.cli ARGS`` without ``--rundir``: the app's default run directory."""
    argv = [sys.executable, "-m", "hubcore.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90)


def start_basic(cli: Cli) -> None:
    started = hubcore_cli("start", str(BASIC))
    assert started.returncode == 0, started.stderr
    assert started.stdout.endswith(f"run dir {cli.rundir}\n")


def stop_basic(cli: Cli) -> None:
    procs = cli.app_processes()
    stopped = hubcore_cli("stop", "--app", str(BASIC))
    assert stopped.returncode == 0, stopped.stderr
    assert_gone(procs)


def doc_block(page: str, header: str) -> str:
    """The ```python block of ``docs/<page>`` whose first line is ``header``."""
    text = (ROOT / "docs" / page).read_text()
    for block in text.split("```python\n")[1:]:
        if block.startswith(header):
            return block.split("```", 1)[0]
    raise AssertionError(f"docs/{page} has no python block starting with {header!r}")


# --- the web server of docs/apps.md -----------------------------------------------------------


def test_apps_doc_shows_the_web_server_as_it_is_in_the_repository() -> None:
    assert doc_block("apps.md", WEB_HEADER) == WEB_HEADER + WEB.read_text()


@pytest.mark.timeout(120)
def test_web_server_on_uvloop_joins_a_started_app_by_its_procfile(cli: Cli) -> None:
    """``hubcore start`` (default run dir), then the docs' aiohttp server on uvloop, which finds
    the app through ``connect(app=...)``: its page answers with the app's own counter."""
    pytest.importorskip("uvloop", reason="the docs' web server runs on uvloop")
    start_basic(cli)
    assert hubcore_cli("call", "counter.increment", "5", "--app", str(BASIC)).stdout == "5\n"
    web = subprocess.Popen(
        [sys.executable, str(WEB), "0"],
        cwd=ROOT,  # the server names the app as tests/apps/basic
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert web.stdout is not None
        out = Lines(web.stdout)
        url = out.wait_for(r"serving (http://\S+)").group(1)
        for expected in (6, 7):  # the count the CLI call left, plus one per page
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
                assert json.load(response) == {"count": expected}

        web.send_signal(signal.SIGTERM)

        assert web.wait(30) == 0, out.text(join_timeout=5)
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
        web.wait(10)
    assert hubcore_cli("call", "counter.increment", "--app", str(BASIC)).stdout == "8\n"
    stop_basic(cli)


# --- hubcore env ------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_env_output_evaluated_by_sh_joins_the_app_through_the_default_client(cli: Cli) -> None:
    start_basic(cli)
    env_command = f"{sys.executable} -m hubcore.cli env --app {BASIC}"
    call = "import hubcore.sync; print(hubcore.sync.get_proxy('counter').increment(2))"
    script = f'eval "$({env_command})" && exec {sys.executable} -c "{call}"'

    joined = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)

    assert joined.returncode == 0, joined.stderr
    assert joined.stdout == "2\n"
    as_json = hubcore_cli("env", "--json", "--app", str(BASIC))
    assert json.loads(as_json.stdout) == {
        "HUBCORE_ADDRESS": str(cli.rundir / "hub.sock"),
        "HUBCORE_TOKEN_FILE": str(cli.rundir / "token"),
    }
    with_rundir = cli.run("env")  # --rundir DIR, no procfile needed
    assert with_rundir.stdout.startswith(f"export HUBCORE_ADDRESS={cli.rundir / 'hub.sock'}\n")
    stop_basic(cli)
    assert_one_line_error(
        hubcore_cli("env", "--app", str(BASIC)), f"no app running for {BASIC}", str(cli.rundir)
    )


# --- connect(app=...) in process --------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.timeout(90)
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_connect_by_app_finds_an_app_in_its_default_run_directory(
    runtime_dir: Path, anyio_backend: str
) -> None:
    async with hubcore.App(BASIC, boot_timeout=15) as app:
        assert app.rundir == hubcore.app_rundir(BASIC) == hubcore.app_rundir(BASIC.parent)
        assert app.rundir.parent == runtime_dir

        async with hubcore.connect(app=BASIC.parent, process="outside") as client:
            counter = await client.get_proxy("counter")
            assert await counter.increment(3) == 3

        def blocking() -> int:
            with hubcore.sync.connect(app=BASIC) as client:
                result: int = client.get_proxy("counter").increment()
                return result

        with anyio.fail_after(30):
            assert await anyio.to_thread.run_sync(blocking) == 4


def test_connect_by_app_without_a_running_app_says_how_to_start_it(runtime_dir: Path) -> None:
    rundir = hubcore.app_rundir(BASIC)
    with pytest.raises(hubcore.HubError) as nothing:
        hubcore.connect(app=BASIC)
    message = str(nothing.value)
    assert message.startswith(f"no app running for {BASIC} (run dir {rundir}): ")
    assert f"`hubcore start {BASIC}`" in message

    # What an app killed with SIGKILL leaves: a socket file, a token, and a pid file whose pid
    # is now another process (this one, started long before the file was written).
    rundir.mkdir(parents=True)
    for name in ("hub.sock", "token"):
        (rundir / name).write_text("stale")
    (rundir / "supervisor.pid").write_text(str(os.getpid()))
    os.utime(rundir / "supervisor.pid", (0, 0))
    with pytest.raises(hubcore.HubError, match=r"^no app running for"):
        hubcore.sync.connect(app=BASIC.parent)

    with pytest.raises(hubcore.HubError, match=r"^no procfile at .*nowhere: pass app="):
        hubcore.connect(app=runtime_dir / "nowhere")
    with pytest.raises(TypeError, match="not both"):
        hubcore.connect(rundir / "hub.sock", app=BASIC)
