"""The pieces of ``python -m bench`` that need no benchmark run: arithmetic, parsing, reports.

The benchmark itself never runs in the test suite: speed is never asserted by a timed test.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

import pytest

from bench import _loops, frames, inproc
from bench.__main__ import failures, parse_only
from bench._options import positive_int, writable_file
from bench._plugin import summarise
from bench._procs import BenchError
from bench._report import rows_report, table, verdict_report
from bench._rows import NOT_AVAILABLE, SYSTEMS, System, add_ratios, measure
from bench._rss import PeakWindow
from bench._targets import verdicts
from bench._whole import interleave
from bench.clients import QUICK


def test_interleave_runs_each_command_once_untimed_then_in_turn() -> None:
    order: list[str] = []

    def command(name: str, seconds: float) -> Any:
        def run() -> float:
            order.append(name)
            return seconds

        return run

    figures = interleave({"a": command("a", 0.010), "b": command("b", 0.002)}, runs=3)
    assert order == ["a", "b"] * 4  # the first round is the untimed warm-up
    assert figures["commands"]["a"] == {"median_ms": pytest.approx(10.0), "runs_ms": [10.0] * 3}
    assert figures["commands"]["b"]["runs_ms"] == pytest.approx([2.0] * 3)


def test_plugin_summary_leaves_out_the_first_tests_and_the_last() -> None:
    times = []
    for number in range(14):
        times.append(["test_hub", 0.5 if number < 3 else 0.003])  # the first ones boot the app
        times.append(["test_local", 0.001])
    times[-1] = ["test_local", 2.0]  # the last test holds the session's teardown
    summary = summarise(times, skip=3)
    assert summary["hub_app_ms"] == pytest.approx(3.0)
    assert summary["local_ms"] == pytest.approx(1.0)
    assert summary["difference_ms"] == pytest.approx(2.0)
    assert summary["tests_per_kind"] == 14


def test_plugin_summary_refuses_too_few_tests() -> None:
    with pytest.raises(BenchError, match="too few tests"):
        summarise([["test_hub", 0.1], ["test_local", 0.1]], skip=3)


def test_peak_window_counts_a_payload_held_during_the_window() -> None:
    size = 32 << 20
    window = PeakWindow({"self": os.getpid()})
    window.open()
    held = bytearray(b"\x01") * size  # touches every page, unlike a zeroed allocation
    assert held[-1] == 1
    del held
    side = window.close(size)["self"]
    assert side["method"] == "window peak"
    assert 0.9 <= float(side["payloads"]) < 1.5


def _row(p50: float, rate: float) -> dict[str, Any]:
    payloads = {"1 MiB": {"ms": 1.0, "mb_per_s": 2000.0}, "16 MiB": {"ms": 40.0, "mb_per_s": 800.0}}
    return {"p50_us": p50, "p99_us": p50 * 2, "calls_per_s": rate, "payloads": payloads}


def test_ratios_compare_with_the_baselines_and_the_rows_own_reference() -> None:
    results = {
        "raw-asyncio": _row(40.0, 80_000.0),
        "mp-managers": {"error": "server exited before READY"},
        "raw-uvloop": _row(30.0, 100_000.0),
        "hubcore-uvloop": _row(60.0, 50_000.0),
    }
    add_ratios(results)
    ratios = results["hubcore-uvloop"]["ratios"]
    assert set(ratios) == {"raw-asyncio", "raw-uvloop"}  # mp-managers failed: no ratio
    assert ratios["raw-uvloop"]["p50"] == pytest.approx(2.0)
    assert ratios["raw-uvloop"]["calls/s"] == pytest.approx(2.0)  # half the rate costs x2
    assert "ratios" not in results["mp-managers"]


def test_rows_report_shows_notes_and_quotes_long_errors() -> None:
    results = {
        "raw-asyncio": _row(40.0, 80_000.0),
        "hubcore-sync": {"error": "client failed (exit code 1)\nTraceback: boom"},
        "pyro5": {"skipped": "skipped: Pyro5 is not installed (pip install Pyro5)"},
    }
    add_ratios(results)
    text = rows_report(results)
    assert "\npyro5         skipped: Pyro5 is not installed (pip install Pyro5)\n" in text
    assert "errors:\nhubcore-sync: client failed (exit code 1)\nTraceback: boom" in text


def test_table_aligns_columns_as_asked() -> None:
    text = table(["name", "n", "note"], [["a", "1", "x"], ["bbb", "22", "yy"]], align="lrl")
    assert text.splitlines() == ["name   n  note", "a      1  x", "bbb   22  yy"]


def test_only_expands_rows_and_rejects_unknown_names() -> None:
    assert parse_only("rows") == {system.name for system in SYSTEMS}
    assert parse_only("hubcore-async, plugin") == {"hubcore-async", "plugin"}
    with pytest.raises(argparse.ArgumentTypeError, match="unknown in --only: nosuch"):
        parse_only("plugin,nosuch")


def test_failures_count_errors_but_not_skips_or_missing_hubcore() -> None:
    run = {
        "systems": {
            "pyro5": {"skipped": "skipped: Pyro5 is not installed"},
            "hubcore-sync": {"error": NOT_AVAILABLE},
        },
        "whole": {"cli": {"error": "hubcore ps exited 1"}},
        "plugin": {"difference_ms": 0.5},
    }
    assert failures(run) == ["hubcore ps exited 1"]


def test_unknown_event_loop_is_refused_with_the_choices() -> None:
    async def nothing() -> None:
        pass

    with pytest.raises(ValueError, match="unknown event loop 'tokio': use one of asyncio"):
        _loops.run(nothing, loop="tokio")


def test_a_row_whose_package_is_missing_is_skipped_with_a_note(tmp_path: Path) -> None:
    system = System("ghost", "bench.servers.ghost", requires="no_such_package_for_bench")
    result = measure(system, tmp_path, {}, QUICK)
    assert result == {
        "skipped": "skipped: no_such_package_for_bench is not installed "
        "(pip install no_such_package_for_bench)"
    }


def test_verdict_report_can_leave_out_what_was_not_measured() -> None:
    judged = verdicts([{"plugin": {"difference_ms": 0.5}}])
    full = verdict_report(judged, 1)
    assert "not measured: systems/hubcore-async" in full
    short = verdict_report(judged, 1, measured_only=True).splitlines()
    assert len(short) == 2  # the header and the plugin target
    assert short[1].split()[-6:] == ["PASS", "0.50", "ms", "<=", "1", "ms"]


def test_counts_and_output_paths_are_checked_before_measuring(tmp_path: Path) -> None:
    assert positive_int("3") == 3
    for bad in ("0", "-2", "three"):
        with pytest.raises(argparse.ArgumentTypeError, match="at least 1, got"):
            positive_int(bad)
    assert writable_file(str(tmp_path / "results.json")) == tmp_path / "results.json"
    with pytest.raises(argparse.ArgumentTypeError, match=r"no folder .* to write"):
        writable_file(str(tmp_path / "missing" / "results.json"))


def test_frames_bench_times_typed_frames_and_each_form(capsys: pytest.CaptureFixture[str]) -> None:
    assert frames.main(["-n", "20", "--runs", "1", "--forms"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("frames: typed  CALL+RESULT encoded and decoded: ")
    assert [line.split(": ")[0].strip() for line in out.splitlines()[1:]] == [
        f"build one CALL as a {form}" for form in frames.FORMS
    ]


def test_inproc_bench_times_calls_with_and_without_a_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert inproc.main(["--calls", "50", "--rounds", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pattern = r"(with a timeout|without|guard) +(\d+\.\d\d) us a call \(best of 2 x 500?\)"
    matches = [re.fullmatch(pattern, line) for line in lines]
    assert all(matches), lines
    assert [m.group(1) for m in matches if m] == ["with a timeout", "without", "guard"]
    assert all(float(m.group(2)) > 0 for m in matches if m)
