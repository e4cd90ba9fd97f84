"""The real ``hubcore`` command, run in subprocesses against tests/apps/basic.

Every test gets a private run directory (``--rundir``) and the ``cli`` fixture, which kills
whatever app processes a test left behind, even when it fails: the daemon of ``hubcore start``
is not a child of the test process, so the repo-wide leftover check cannot see it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import anyio
import psutil
import pytest

import hubcore
from hubcore.app._supervisor import kill_tree, sweep_pidfile
from hubcore.cli._control import parse_value, plain
from tests.lines import Lines

BASIC = Path(__file__).parents[1] / "apps" / "basic" / "procfile.py"
BOOT_FAILURE = Path(__file__).parent / "apps_extra" / "boot_failure" / "procfile.py"
BOOT_SECONDS = 60
COMMANDS = (
    "dev",
    "start",
    "stop",
    "restart",
    "ps",
    "objects",
    "call",
    "logs",
    "env",
    "hub",
    "trace",
)


def hubcore_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command that needs no app."""
    argv = [sys.executable, "-m", "hubcore.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


class Cli:
    """Runs ``python -m hubcore.cli`` against one run directory; cleans up after the test."""

    def __init__(self, rundir: Path) -> None:
        self.rundir = rundir
        self.devs: list[subprocess.Popen[str]] = []

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run a command to completion, with ``--rundir`` set."""
        argv = [sys.executable, "-m", "hubcore.cli", *args, "--rundir", str(self.rundir)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def app(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command on the basic app (``--app`` and ``--rundir`` set)."""
        return self.run(*args, "--app", str(BASIC))

    def dev(self, procfile: Path = BASIC, *args: str) -> tuple[subprocess.Popen[str], Lines]:
        """Start ``hubcore dev`` in the foreground; its output is read line by line."""
        argv = [sys.executable, "-m", "hubcore.cli", "dev", str(procfile), *args]
        proc = subprocess.Popen(
            [*argv, "--rundir", str(self.rundir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.devs.append(proc)
        assert proc.stdout is not None
        return proc, Lines(proc.stdout)

    def app_processes(self) -> list[psutil.Process]:
        """The app's live workers (from pids.json) and its supervisor process."""
        entries = _read_json(self.rundir / "pids.json")
        procs = [_process(e["pid"], e["create_time"]) for e in entries]
        pid = (self.rundir / "supervisor.pid").read_text().strip()
        procs.append(psutil.Process(int(pid)))
        return [p for p in procs if p is not None]

    def cleanup(self) -> None:
        for proc in self.devs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        sweep_pidfile(self.rundir / "pids.json")
        try:
            daemon = int((self.rundir / "supervisor.pid").read_text())
        except (OSError, ValueError):
            return
        if _is_hubcore_cli(daemon):
            kill_tree(daemon)


def _read_json(path: Path) -> list[dict[str, float]]:
    data: list[dict[str, float]] = json.loads(path.read_text())
    return data


def _process(pid: float, create_time: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(int(pid))
        return proc if abs(proc.create_time() - create_time) < 0.05 else None
    except psutil.NoSuchProcess:
        return None


def _is_hubcore_cli(pid: int) -> bool:
    try:
        return "hubcore.cli" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def assert_gone(procs: list[psutil.Process], timeout: float = 10) -> None:
    """Every process has exited (a zombie waiting for a parent that is not us counts)."""
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    alive = [p for p in alive if _status(p) != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running: {[(p.pid, _cmdline(p)) for p in alive]}"


def _status(proc: psutil.Process) -> str:
    try:
        return str(proc.status())
    except psutil.NoSuchProcess:
        return psutil.STATUS_ZOMBIE


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return "?"


def ps_rows(output: str) -> dict[str, tuple[int, str]]:
    """``hubcore ps`` output -> label: (pid, state)."""
    rows = [line.split() for line in output.splitlines()[1:]]
    return {row[0]: (int(row[1]), row[2]) for row in rows}


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hubcore: error: ")
    for text in expected:
        assert text in lines[0]


@pytest.fixture
def cli(rundir: Path) -> Iterator[Cli]:
    runner = Cli(rundir)
    try:
        yield runner
    finally:
        runner.cleanup()


def write_app(folder: Path, service_source: str) -> Path:
    """A one-service app (service ``svc``, class ``Svc``) in ``folder``; its procfile."""
    (folder / "services").mkdir()
    (folder / "services" / "__init__.py").write_text("")
    (folder / "services" / "svc.py").write_text(textwrap.dedent(service_source))
    procfile = folder / "procfile.py"
    procfile.write_text(
        "def procfile(app):\n    app.service('svc', 'services.svc:Svc').publish()\n"
    )
    return procfile


# --- dev --------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_dev_boots_then_sigint_stops_gracefully(cli: Cli) -> None:
    proc, out = cli.dev()
    out.wait_for(r"hubcore: 4 processes ready in \d+ ms \(run dir ")
    procs = cli.app_processes()
    assert len(procs) == 5  # four workers and the supervisor
    # A worker reports ready just before it handles SIGTERM: an answered call shows that
    # background.0 is past that point (without it, its stop() could be skipped).
    pid = cli.app("call", "counter.get_pid").stdout
    assert int(pid) in {p.pid for p in procs}

    assert not any("HUBCORE_TRACE" in p.environ() for p in procs)  # no --trace: no records

    proc.send_signal(signal.SIGINT)

    assert proc.wait(30) == 0
    text = out.text(join_timeout=10)
    assert "background.0   | counter stopping" in text
    assert re.search(r"hubcore: stopped in \d+ ms", text)
    assert "trace" not in text
    assert_gone(procs)
    assert "counter stopping" in (cli.rundir / "app.log").read_text()


@pytest.mark.timeout(90)
def test_dev_trace_writes_the_calls_of_the_app_when_it_stops(cli: Cli, tmp_path: Path) -> None:
    """Calls between the app's processes are drained while it runs and written as it stops;
    the page of the trace is one command away."""
    trace = tmp_path / "trace.json"
    proc, out = cli.dev(BASIC, "--trace", str(trace))
    out.wait_for(r"hubcore: 4 processes ready in \d+ ms")
    for _ in range(3):
        assert cli.app("call", "caller.bump").returncode == 0  # worker -> background
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    text = out.text(join_timeout=10)
    assert (
        f"hubcore: trace of 3 cross-process calls written to {trace} (view: hubcore trace " in text
    )
    data = json.loads(trace.read_text())
    lanes = {e["args"]["name"] for e in data["traceEvents"] if e.get("name") == "process_name"}
    assert "background.0" in lanes
    assert lanes & {"worker.0", "worker.1"}
    served = [
        e for e in data["traceEvents"] if e.get("ph") == "X" and e["name"] == "counter.increment"
    ]
    assert len(served) == 3
    assert {e["args"]["caller"] for e in served} <= {"worker.0", "worker.1"}

    page = tmp_path / "trace.html"
    result = hubcore_cli("trace", "view", str(trace), "-o", str(page))
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip()
        == f"hubcore: wrote {page}: open it in a browser (it needs no network)"
    )
    assert "counter.increment" in page.read_text()


@pytest.mark.timeout(90)
def test_dev_trace_into_a_missing_folder_is_one_error_line(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "trace.json"
    result = cli.run("dev", str(BASIC), "--trace", str(missing))
    assert_one_line_error(result, f"--trace {missing}: the folder {missing.parent} does not exist")
    assert not (cli.rundir / "supervisor.pid").exists()  # nothing started


@pytest.mark.timeout(90)
def test_trace_view_of_what_is_not_a_trace_is_one_error_line(tmp_path: Path) -> None:
    missing = hubcore_cli("trace", "view", str(tmp_path / "none.json"))
    assert_one_line_error(missing, "no trace file at")
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a trace"}')
    assert_one_line_error(hubcore_cli("trace", "view", str(bad)), f"{bad} is not a trace: expected")


@pytest.mark.timeout(90)
def test_dev_second_sigint_forces_a_stuck_stop(cli: Cli, tmp_path: Path) -> None:
    """A service whose stop() hangs: the second Ctrl-C kills the trees and exits with 130."""
    procfile = write_app(
        tmp_path,
        """
        import time
        import hubcore

        class Svc(hubcore.Service):
            def ping(self):
                return "pong"

            async def stop(self):
                print("svc stopping", flush=True)
                time.sleep(60)
        """,
    )
    proc, out = cli.dev(procfile)
    out.wait_for("1 process ready")
    procs = cli.app_processes()
    assert cli.app("call", "svc.ping").stdout == '"pong"\n'  # past the worker's signal setup
    proc.send_signal(signal.SIGINT)
    out.wait_for("svc stopping")

    proc.send_signal(signal.SIGINT)

    assert proc.wait(10) == 130
    assert "hubcore: forced: killed 1 process(es)" in out.text(join_timeout=10)
    assert_gone(procs)


@pytest.mark.timeout(90)
def test_dev_boot_failure_is_reported_without_a_cli_traceback(cli: Cli, tmp_path: Path) -> None:
    procfile = write_app(
        tmp_path,
        """
        import hubcore

        class Svc(hubcore.Service):
            async def start(self):
                raise ValueError("no database at localhost:5432")
        """,
    )
    result = cli.run("dev", str(procfile))

    assert result.returncode == 1
    assert result.stderr.startswith("hubcore: error: service 'svc' failed to start")
    assert "ValueError: no database at localhost:5432" in result.stderr  # the service's
    assert "hubcore/cli" not in result.stderr  # but not one of the command's own
    assert not (cli.rundir / "supervisor.pid").exists()


@pytest.mark.timeout(90)
def test_dev_boot_timeout_names_the_process_that_was_not_ready(cli: Cli, tmp_path: Path) -> None:
    procfile = write_app(
        tmp_path,
        """
        import anyio
        import hubcore

        class Svc(hubcore.Service):
            async def start(self):
                await anyio.sleep_forever()  # never ready; the stop's SIGTERM cancels it
        """,
    )
    result = cli.run("dev", str(procfile), "--boot-timeout", "3")

    assert_one_line_error(result, "the app was not ready within 3s: background.0 (")
    # Under load the worker may not even have been spawned by then: no pid yet.
    assert re.search(
        r"background\.0 \((starting, no pid yet|running, pid \d+), not reported ready\); "
        r"see the output above, or raise --boot-timeout$",
        result.stderr.strip(),
    ), result.stderr
    assert not (cli.rundir / "supervisor.pid").exists()


@pytest.mark.timeout(90)
def test_dev_boot_failure_prints_the_service_traceback_once(cli: Cli) -> None:
    """The worker's traceback is echoed with its label; the error line points at it."""
    result = cli.run("dev", str(BOOT_FAILURE))

    assert_one_line_error(
        result,
        "service 'settings' failed to start in background.0: ValueError: bad config",
        "(its traceback is above)",
    )
    output = result.stdout + result.stderr
    assert output.count("Traceback (most recent call last)") == 1, output
    assert output.count('raise ValueError("bad config")') == 1, output
    assert 'background.0   |     raise ValueError("bad config")' in result.stdout


# --- start and the commands that talk to a running app ----------------------------------------


def start(cli: Cli) -> dict[str, tuple[int, str]]:
    """``hubcore start`` the basic app; its ``ps`` rows once started."""
    started = cli.run("start", str(BASIC))
    assert started.returncode == 0, started.stderr
    assert re.fullmatch(r"started \(pid \d+\), run dir .+\n", started.stdout)
    ps = cli.app("ps")
    assert ps.returncode == 0, ps.stderr
    return ps_rows(ps.stdout)


def stop(cli: Cli, procs: list[psutil.Process]) -> None:
    """``hubcore stop``, then check that nothing of the app runs any more."""
    stopped = cli.app("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("stopped")
    assert_gone(procs)
    assert_one_line_error(cli.app("ps"), "no app running")


@pytest.mark.timeout(90)
def test_start_then_ps_objects_call_and_stop(cli: Cli) -> None:
    rows = start(cli)
    assert sorted(rows) == ["background.0", "hog.0", "worker.0", "worker.1"]
    assert {state for _, state in rows.values()} == {"running"}
    procs = cli.app_processes()
    assert {pid for pid, _ in rows.values()} < {p.pid for p in procs}

    objects = cli.app("objects").stdout
    assert objects.split()[:5] == ["NAME", "INSTANCE", "PROCESS", "PID", "METHODS"]
    methods = {line.split()[0]: line.split(maxsplit=4)[4] for line in objects.splitlines()[1:]}
    assert methods == {  # as docs/cli.md shows: a service's start and stop are not remote API
        "caller": "bump",
        "counter": "crash, get_pid, hold, increment, spawn_child",
        "hog": "get_pid, grow",
    }

    assert cli.app("call", "counter.increment", "5").stdout == "5\n"
    bumped = cli.app("call", "caller.bump")
    assert bumped.returncode == 0, bumped.stderr
    assert json.loads(bumped.stdout)["count"] == 6

    stop(cli, procs)


@pytest.mark.timeout(90)
def test_restart_gives_a_new_pid_and_logs_show_the_process(cli: Cli) -> None:
    rows = start(cli)
    procs = cli.app_processes()

    restarted = cli.app("restart", "background")

    assert restarted.returncode == 0, restarted.stderr
    assert re.fullmatch(r"restarted background\.0 \(pid \d+ -> \d+\)\n", restarted.stdout)
    after = ps_rows(cli.app("ps").stdout)
    assert after["background.0"][0] != rows["background.0"][0]
    assert after["background.0"][1] == "running"
    assert after["worker.0"] == rows["worker.0"]
    logs = cli.app("logs", "background").stdout.splitlines()
    assert logs
    assert all(line.startswith("background.0 ") for line in logs)
    assert "background.0   | counter stopping" in logs  # the restart stopped its service
    stop(cli, procs + cli.app_processes())


@pytest.mark.timeout(90)
def test_call_errors_and_restart_of_an_unknown_process(cli: Cli) -> None:
    start(cli)
    procs = cli.app_processes()

    assert_one_line_error(cli.app("call", "counter.nope"), "no method 'nope'", "increment")
    assert_one_line_error(cli.app("call", "nosuch.x"), "published: caller, counter, hog")
    assert_one_line_error(
        cli.app("restart", "nosuch"), "no process 'nosuch'", "background, worker, hog"
    )
    # A near miss is named, whatever the command.
    assert_one_line_error(cli.app("call", "counter.incremnt"), "did you mean 'increment'?")
    assert_one_line_error(cli.app("call", "countr.increment"), "did you mean 'counter'?")
    assert_one_line_error(cli.app("restart", "backgrund"), "did you mean 'background'?")
    assert_one_line_error(cli.app("logs", "wrker.1"), "no process 'wrker.1'", "'worker'?")

    failed = cli.app("call", "counter.increment", "x")  # the string "x": int + str raises
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "TypeError" in failed.stderr
    assert "Remote traceback:" in failed.stderr
    assert "counter.py" in failed.stderr  # the service's frame, from the other process

    # A call that timed out says where the callee was: a plain method, holding its loop.
    held = cli.app("call", "counter.hold", "2", "--timeout", "0.5")
    assert held.returncode == 1
    assert "Traceback" not in held.stderr
    first, where, *stack = held.stderr.strip().splitlines()
    assert first.startswith(
        "hubcore: error: counter.hold did not answer within 0.5s: it is still running, a plain"
        " method holding its process's event loop"
    )
    assert where == "  where counter.hold was (innermost last):"
    assert stack[0].endswith("/services/counter.py:38 in hold: `time.sleep(seconds)`"), stack
    stop(cli, procs)


@pytest.mark.timeout(120)
def test_bad_control_commands_leave_the_app_running(cli: Cli) -> None:
    """Unknown processes, instances, objects and methods, and bad arguments, from the command
    line and straight to the hub: each is one clear error, and nothing stops or restarts."""
    rows = start(cli)
    procs = cli.app_processes()

    assert_one_line_error(cli.app("restart", "worker.5"), "worker.0, worker.1")
    assert_one_line_error(cli.app("restart", "worker.x"), "background, worker, hog")
    assert_one_line_error(cli.app("logs", "worker.7"), "no instance 'worker.7'", "worker.1")
    assert_one_line_error(cli.app("call", "counter.nope"), "no method 'nope'", "increment")
    failed = cli.app("call", "counter.increment", "--kw", "by=[not json")
    assert failed.returncode == 1
    assert "TypeError" in failed.stderr
    token = (cli.rundir / "token").read_bytes()
    errors = anyio.run(_bad_hub_calls, str(cli.rundir / "hub.sock"), token)
    assert errors == [
        "no instance 5 of process 'worker'; its instances: worker.0, worker.1",
        "no process 'nosuch' in the app; processes: background, worker, hog",
        "no process 7 in the app; processes: background, worker, hog",
        "no instance '0' of process 'worker'; its instances: worker.0, worker.1",
        "no process None in the app; processes: background, worker, hog",
        "unknown control action 'explode': restart, logs or spec",
        "control(action, args) takes an action name (str) and a dict of arguments, got str and str",
        "the hub has no method $hub.explode",
    ]

    assert ps_rows(cli.app("ps").stdout) == rows  # same pids, all running: nothing restarted
    assert cli.app("call", "counter.increment", "2").stdout == "2\n"
    stop(cli, procs)


async def _bad_hub_calls(address: str, token: bytes) -> list[str]:
    """Send malformed control commands (and an unknown hub method) straight to the hub."""
    requests: list[tuple[str, tuple[object, ...]]] = [
        ("control", ("restart", {"process": "worker", "instance": 5})),
        ("control", ("restart", {"process": "nosuch"})),
        ("control", ("restart", {"process": 7})),
        ("control", ("restart", {"process": "worker", "instance": "0"})),
        ("control", ("logs", {})),
        ("control", ("explode", {})),
        ("control", ("restart", "worker")),
        ("explode", ()),
    ]
    errors = []
    async with hubcore.connect(address, token=token, process="prober") as client:
        for method, args in requests:
            with pytest.raises(hubcore.RemoteError) as caught:
                await client.hub_call(method, *args, timeout=30)
            errors.append(caught.value.message)
    return errors


@pytest.mark.timeout(90)
def test_start_reports_a_daemon_that_fails_to_boot(cli: Cli, tmp_path: Path) -> None:
    procfile = write_app(
        tmp_path,
        """
        import hubcore

        class Svc(hubcore.Service):
            async def start(self):
                raise RuntimeError("cannot reach the cache")
        """,
    )
    result = cli.run("start", str(procfile))

    assert result.returncode == 1
    assert result.stderr.startswith("hubcore: error: the app exited with code 1")
    assert "RuntimeError: cannot reach the cache" in result.stderr  # from app.log's tail
    assert not (cli.rundir / "supervisor.pid").exists()


# --- errors and help --------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_dev_without_a_procfile_is_one_error_line(cli: Cli, tmp_path: Path) -> None:
    assert_one_line_error(cli.run("dev", str(tmp_path / "procfile.py")), "no procfile at")
    assert_one_line_error(cli.run("start", str(tmp_path)), "no procfile at")


@pytest.mark.timeout(90)
def test_commands_without_a_running_app_are_one_error_line(cli: Cli) -> None:
    for command in (["ps"], ["objects"], ["call", "counter.increment"], ["restart"]):
        assert_one_line_error(cli.app(*command), "no app running for", str(cli.rundir))
    assert_one_line_error(cli.app("stop"), "no app running for")
    assert_one_line_error(cli.app("logs"), "no log at")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command_has_an_example(command: str) -> None:
    argv = [sys.executable, "-m", "hubcore.cli", command, "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "Example:\n  hubcore " + command in result.stdout


# --- how results are printed (in process) -----------------------------------------------------


def test_call_arguments_are_json_or_plain_strings() -> None:
    assert parse_value("5") == 5
    assert parse_value('{"a": [1, null]}') == {"a": [1, None]}
    assert parse_value("hello") == "hello"


def test_call_results_become_json_ready() -> None:
    value = {"b": b"\x00" * 10, "s": {3, 1}, "t": (1, "x"), 2: object}
    assert plain(value) == {"b": {"$bytes": 10}, "s": [1, 3], "t": [1, "x"], "2": repr(object)}
