"""The verdict arithmetic of ``python -m bench``: target values, medians over runs, PASS/FAIL."""

from __future__ import annotations

from typing import Any

import pytest

from bench._targets import TARGETS, Missing, Target, figure, median_over_runs, row_ratio, verdicts


def _row(p50: float, rate: float, mb_per_s: float = 500.0, copies: float = 1.5) -> dict[str, Any]:
    return {
        "p50_us": p50,
        "calls_per_s": rate,
        "payloads": {
            "16 MiB": {
                "mb_per_s": mb_per_s,
                "peak_rss": {"client": {"payloads": copies}, "server": {"payloads": copies}},
            }
        },
    }


def _run(async_p50: float = 50.0, async_rate: float = 40_000.0) -> dict[str, Any]:
    return {
        "systems": {
            "raw-asyncio": _row(40.0, 50_000.0),
            "mp-managers": _row(20.0, 10_000.0, mb_per_s=1000.0),
            "hubcore-async": _row(async_p50, async_rate),
            "hubcore-sync": {"error": "client failed (exit code 1)\ntraceback..."},
            "pyro5": {"skipped": "skipped: Pyro5 is not installed (pip install Pyro5)"},
        },
        "whole": {
            "start-up": {"ratio": 1.2},
            "cli": {"commands": {"hubcore ps": {"median_ms": 180.0}}},
            "boot": {"error": "boot: no line on stdout within 60 s"},
        },
        "plugin": {"difference_ms": 0.4},
    }


def _target(key: str) -> Target:
    return next(target for target in TARGETS if target.key == key)


def test_row_ratio_divides_the_row_by_its_reference() -> None:
    value = row_ratio("hubcore-async", "raw-asyncio", "p50_us")(_run(async_p50=50.0))
    assert value == pytest.approx(1.25)


def test_row_ratio_of_a_failed_row_says_why() -> None:
    with pytest.raises(Missing, match="hubcore-sync: client failed"):
        row_ratio("hubcore-sync", "mp-managers", "p50_us")(_run())


def test_figure_of_a_part_never_measured_says_so() -> None:
    with pytest.raises(Missing, match="not measured: systems/hubcore-trio"):
        figure("systems", "hubcore-trio", "p50_us")(_run())


def test_upper_limit_passes_on_the_limit_and_fails_above() -> None:
    target = _target("async-p50")  # <= 1.25x raw-asyncio
    assert target.passes(1.25)
    assert not target.passes(1.26)
    assert target.budget(2.5) == pytest.approx(2.0)


def test_lower_limit_passes_on_the_limit_and_fails_below() -> None:
    target = _target("async-rate-raw")  # >= 0.8x raw-asyncio
    assert target.passes(0.8)
    assert not target.passes(0.79)
    assert target.budget(0.4) == pytest.approx(2.0)  # half the rate: twice the budget
    assert target.budget(1.6) == pytest.approx(0.5)


def test_targets_have_unique_keys_and_describe_themselves() -> None:
    assert len({target.key for target in TARGETS}) == len(TARGETS)
    assert _target("async-p50").describe() == "<= 1.25x raw-asyncio"
    assert _target("cli-ps").describe() == "<= 150 ms"
    assert _target("async-rate-mp").describe() == ">= 4x mp-managers"


def test_median_over_runs_ignores_runs_without_a_value() -> None:
    assert median_over_runs([1.0, None, 3.0, 2.0]) == 2.0
    assert median_over_runs([None, None]) is None
    assert median_over_runs([1.0, 2.0]) == 1.5


def test_verdicts_judge_the_median_of_the_runs() -> None:
    runs = [_run(async_p50=40.0), _run(async_p50=60.0), _run(async_p50=100.0)]  # x1.0, 1.5, 2.5
    judged = {verdict.target.key: verdict for verdict in verdicts(runs)}
    p50 = judged["async-p50"]
    assert p50.runs == pytest.approx([1.0, 1.5, 2.5])
    assert p50.value == pytest.approx(1.5)
    assert p50.status == "FAIL"
    assert judged["async-rate-mp"].value == pytest.approx(4.0)  # 40k against 10k calls/s
    assert judged["async-rate-mp"].status == "PASS"
    assert judged["big-async"].value == pytest.approx(0.5)
    assert judged["big-async"].status == "FAIL"
    assert judged["copies-server"].status == "PASS"
    assert judged["start-up"].status == "PASS"
    assert judged["cli-ps"].status == "FAIL"
    assert judged["plugin"].status == "PASS"


def test_verdicts_give_na_with_the_reason_when_nothing_was_measured() -> None:
    judged = {verdict.target.key: verdict for verdict in verdicts([_run()])}
    assert judged["sync-p50"].status == "n/a"
    assert "client failed" in judged["sync-p50"].note
    assert judged["boot"].status == "n/a"
    assert judged["boot"].note.startswith("boot: boot: no line")
    assert judged["cli-call"].note == "not measured: whole/cli"


def test_verdict_json_holds_every_run_and_the_budget() -> None:
    runs = [_run(async_p50=40.0), _run(async_p50=100.0)]
    document = next(v.to_json() for v in verdicts(runs) if v.target.key == "async-p50")
    assert document["runs"] == pytest.approx([1.0, 2.5])
    assert document["value"] == pytest.approx(1.75)
    assert document["budget"] == pytest.approx(1.4)
    assert document["status"] == "FAIL"
    assert document["target"] == "<= 1.25x raw-asyncio"
