"""What the report of a failing test shows: the test's own line right above the error, none of
hubcore's frames (nor anyio's, concurrent.futures' or the event loop's on the way), in sync and
async tests; ``--fulltrace`` shows them all again; errors about a name suggest the closest one.

One inner session of the toy app runs every failing case; each traceback style gets a small
session of its own."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Inner


FAILING = """
import pytest

import hubcore


def test_sync_timeout(proxy, hub_app):
    with hub_app.inject("counter.increment", delay=5):
        proxy("counter", timeout=0.3).increment()


def test_sync_unknown_method(proxy):
    proxy("counter").incremnt()


@pytest.mark.anyio
async def test_async_timeout(proxy, hub_app):
    async with hub_app.inject("counter.increment", delay=5):
        await proxy("counter", timeout=0.3).increment()


@pytest.mark.anyio
async def test_async_unknown_method(proxy):
    await proxy("counter").incremnt()


def test_call_assertion(proxy, hub_app):
    proxy("counter").increment()
    hub_app.calls.assert_called_once("counter.get_pid")


def test_predicate_of_the_test(proxy, hub_app):
    proxy("counter").increment(2)
    PREDICATE


def test_unknown_name(proxy):
    proxy("countr", timeout=0.3)


def test_unknown_service(hub_app):
    hub_app.config("calller")


def test_kill_unknown_process(hub_app):
    hub_app.kill("backgrund")


def test_restart_unknown_process(hub_app):
    hub_app.restart("wroker")


def test_logs_of_unknown_process(hub_app):
    hub_app.logs("backgroud")


def test_pause_unknown_process(hub_app):
    with hub_app.pause("bakground"):
        pass


@pytest.mark.anyio
async def test_async_kill_unknown_process(hub_app):
    await hub_app.kill("backgrund")


def test_without_the_plugin():
    hubcore.with_timeout(object(), 1)
"""

PREDICATE = 'hub_app.calls.assert_called_with("counter.increment", lambda by: by.startswith("x"))'
FAILING = FAILING.replace("PREDICATE", PREDICATE)

BACKENDS = ("asyncio", "uvloop", "trio")

#: test -> (its line that fails, the start of the error line, the closest name, if suggested)
CASES: dict[str, tuple[str, str, str]] = {
    "test_sync_timeout": (
        'proxy("counter", timeout=0.3).increment()',
        "hubcore.CallTimeout: counter.increment did not answer within 0.3s",
        "",
    ),
    "test_sync_unknown_method": (
        'proxy("counter").incremnt()',
        "AttributeError: 'counter' has no remote method 'incremnt'",
        "increment",
    ),
    **{
        f"test_async_timeout[{backend}]": (
            'await proxy("counter", timeout=0.3).increment()',
            "hubcore.CallTimeout: counter.increment did not answer within 0.3s",
            "",
        )
        for backend in BACKENDS
    },
    **{
        f"test_async_unknown_method[{backend}]": (
            'await proxy("counter").incremnt()',
            "AttributeError: 'counter' has no remote method 'incremnt'",
            "increment",
        )
        for backend in BACKENDS
    },
    "test_call_assertion": (
        'hub_app.calls.assert_called_once("counter.get_pid")',
        "AssertionError: expected one call of counter.get_pid, saw 0",
        "",
    ),
    "test_unknown_name": (
        'proxy("countr", timeout=0.3)',
        "hubcore.ObjectNotFound: no process published 'countr' within 0.3s",
        "counter",
    ),
    "test_unknown_service": (
        'hub_app.config("calller")',
        "KeyError: \"no service 'calller'",
        "caller",
    ),
    "test_kill_unknown_process": (
        'hub_app.kill("backgrund")',
        "LookupError: no process 'backgrund' instance 0",
        "background",
    ),
    "test_restart_unknown_process": (
        'hub_app.restart("wroker")',
        "LookupError: no process 'wroker'",
        "worker",
    ),
    "test_logs_of_unknown_process": (
        'hub_app.logs("backgroud")',
        "LookupError: no process 'backgroud'",
        "background",
    ),
    "test_pause_unknown_process": (
        'with hub_app.pause("bakground"):',
        "LookupError: no process 'bakground' instance 0",
        "background",
    ),
    **{
        f"test_async_kill_unknown_process[{backend}]": (
            'await hub_app.kill("backgrund")',
            "LookupError: no process 'backgrund' instance 0",
            "background",
        )
        for backend in BACKENDS
    },
}

#: What a frame of hubcore's insides looks like in a report, in any style.
INSIDES = re.compile(
    rf"{os.sep}(hubcore|pytest_hub|anyio|trio|asyncio|concurrent){os.sep}|threading\.py"
)


def section(lines: list[str], test: str) -> list[str]:
    """The lines of one test's failure in a report, from its ``___ name ___`` header on."""
    header = re.compile(rf"^_+ {re.escape(test)} _+$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    assert start is not None, f"no report for {test}"
    end = start + 1
    while end < len(lines) and not _END.match(lines[end]):
        end += 1
    return lines[start + 1 : end]


# The next test's header, the end of the failures, or a section of captured output.
_END = re.compile(r"^(_{3,} \S.* _{3,}|={3,}.*|-{3,} .* -{3,})$")


def line_above_error(lines: list[str]) -> str:
    """The source line right above the first ``E`` line (past the ``^^^`` under it), as
    ``"> code"`` without its indentation."""
    first_error = next(i for i, line in enumerate(lines) if line.startswith("E "))
    above = first_error - 1
    while set(lines[above].strip()) == {"^"}:
        above -= 1
    marker, code = lines[above][:1], lines[above][1:].strip()
    return f"{marker} {code}"


def locations(lines: list[str], path: str) -> list[str]:
    """The ``file:line:`` lines of the entries shown for a file."""
    return [line for line in lines if re.match(rf"^{re.escape(path)}:\d+:", line)]


def line_number(pytester: pytest.Pytester, code: str) -> int:
    source = (pytester.path / "test_reports.py").read_text().splitlines()
    return next(i + 1 for i, line in enumerate(source) if line.strip() == code)


@pytest.mark.timeout(180)
def test_reports_show_the_test_line_above_the_error(
    pytester: pytest.Pytester, inner: Inner
) -> None:
    """Every failure through the plugin (a timeout, an unknown method, a hub_app helper, a
    call assertion, an unknown name) shows one entry: the test's own line, then the error.
    A predicate of the test that hubcore calls is shown as the second entry; a test that does
    not use the plugin keeps its hubcore frames."""
    inner.use_every_anyio_backend()
    pytester.makepyfile(test_reports=FAILING)
    run = inner.run(procfile=inner.toy)
    lines = run.result.outlines
    for test, (code, error, closest) in CASES.items():
        shown = section(lines, test)
        assert not [line for line in shown if INSIDES.search(line)], (test, shown)
        assert line_above_error(shown) == f"> {code}", (test, shown)
        errors = [line for line in shown if line.startswith("E ")]
        assert errors[0].split(maxsplit=1)[1].startswith(error), (test, errors)
        assert (f"did you mean {closest!r}?" in errors[0]) == bool(closest), (test, errors)
        where = locations(shown, "test_reports.py")
        assert len(where) == 1, (test, shown)  # one entry: the test's line
        assert where[0].startswith(f"test_reports.py:{line_number(pytester, code)}: "), where

    shown = section(lines, "test_predicate_of_the_test")
    assert not [line for line in shown if INSIDES.search(line)], shown
    predicate = line_number(pytester, PREDICATE)
    where = locations(shown, "test_reports.py")  # the test's line, then the predicate's
    assert [line.split(":")[1] for line in where] == [str(predicate), str(predicate)], shown
    assert line_above_error(shown) == f"> {PREDICATE}"  # the predicate's entry, last
    errors = [line.split(maxsplit=1)[1] for line in shown if line.startswith("E ")]
    assert errors == ["AttributeError: 'int' object has no attribute 'startswith'"]

    shown = section(lines, "test_without_the_plugin")
    assert [line for line in shown if f"{os.sep}hubcore{os.sep}client{os.sep}" in line], shown

    failed = {name for name, outcome in run.outcomes.items() if outcome == "failed"}
    assert failed == {*CASES, "test_predicate_of_the_test", "test_without_the_plugin"}


STYLES = """
import pytest


def test_sync_timeout(proxy, hub_app):
    with hub_app.inject("counter.increment", delay=5):
        proxy("counter", timeout=0.3).increment()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_async_timeout(proxy, hub_app):
    async with hub_app.inject("counter.increment", delay=5):
        await proxy("counter", timeout=0.3).increment()


def call_slowly(counter):
    return counter.increment()


def test_through_a_helper(proxy, hub_app):
    with hub_app.inject("counter.increment", delay=5):
        call_slowly(proxy("counter", timeout=0.3))
"""

# The frames of a blocking call that times out: the calling thread sends and waits itself
# (docs/sync.md), so they are hubcore's own, which the plugin's reports hide by default.
SYNC_FRAMES = ("hubcore/sync.py", "hubcore/client/_blocking.py")


def _inner_style_run(pytester: pytest.Pytester, inner: Inner, *args: str) -> list[str]:
    pytester.makepyfile(test_reports=STYLES)
    run = inner.run(*args, procfile=inner.toy)
    run.result.assert_outcomes(failed=3)
    return run.result.outlines


@pytest.mark.timeout(120)
def test_fulltrace_shows_every_frame(pytester: pytest.Pytester, inner: Inner) -> None:
    lines = _inner_style_run(pytester, inner, "--fulltrace")
    shown = "\n".join(section(lines, "test_sync_timeout"))
    for frame in SYNC_FRAMES:
        assert frame.replace("/", os.sep) in shown, frame
    shown = "\n".join(section(lines, "test_async_timeout[asyncio]"))
    assert f"{os.sep}hubcore{os.sep}client{os.sep}_proxy.py" in shown


@pytest.mark.timeout(120)
def test_short_style_shows_the_test_lines_only(pytester: pytest.Pytester, inner: Inner) -> None:
    lines = _inner_style_run(pytester, inner, "--tb=short")
    timeout = line_number(pytester, 'proxy("counter", timeout=0.3).increment()')
    assert section(lines, "test_sync_timeout") == [
        f"test_reports.py:{timeout}: in test_sync_timeout",
        '    proxy("counter", timeout=0.3).increment()',
        "E   hubcore.CallTimeout: counter.increment did not answer within 0.3s"
        " (the call was cancelled on the callee)",
    ]
    helper = section(lines, "test_through_a_helper")
    assert not [line for line in helper if INSIDES.search(line)], helper
    assert [line.split(":")[2] for line in locations(helper, "test_reports.py")] == [
        " in test_through_a_helper",
        " in call_slowly",
    ]


@pytest.mark.timeout(120)
def test_long_style_shows_each_test_frame_in_full(pytester: pytest.Pytester, inner: Inner) -> None:
    lines = _inner_style_run(pytester, inner, "--tb=long")
    helper = section(lines, "test_through_a_helper")
    assert not [line for line in helper if INSIDES.search(line)], helper
    assert line_above_error(helper) == "> return counter.increment()"
    assert "    def call_slowly(counter):" in helper  # long: the whole function, not one line
    assert len(locations(helper, "test_reports.py")) == 2


@pytest.mark.timeout(120)
def test_line_style_points_at_the_test_line(pytester: pytest.Pytester, inner: Inner) -> None:
    lines = _inner_style_run(pytester, inner, "--tb=line")
    sync = line_number(pytester, 'proxy("counter", timeout=0.3).increment()')
    not_sync = line_number(pytester, 'await proxy("counter", timeout=0.3).increment()')
    helper = line_number(pytester, "return counter.increment()")
    path = pytester.path / "test_reports.py"
    crash_lines = [line for line in lines if line.startswith(str(path))]
    assert [line.split(": ", 1)[0] for line in crash_lines] == [
        f"{path}:{sync}",
        f"{path}:{not_sync}",
        f"{path}:{helper}",
    ]
    assert all("hubcore.CallTimeout: counter.increment" in line for line in crash_lines)


@pytest.mark.timeout(120)
def test_native_style_is_python_s_own_traceback(pytester: pytest.Pytester, inner: Inner) -> None:
    """``--tb=native`` is left as pytest makes it: Python's traceback, every frame."""
    lines = _inner_style_run(pytester, inner, "--tb=native")
    shown = "\n".join(section(lines, "test_sync_timeout"))
    assert shown.startswith("Traceback (most recent call last):")
    for frame in SYNC_FRAMES:
        assert frame.replace("/", os.sep) in shown, frame
    assert f"{Path('_pytest') / 'runner.py'}" in shown  # pytest's own frames too
