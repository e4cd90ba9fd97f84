"""``python -m bench.chart``: bars from a results file, and the PNG written from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench._targets import verdicts
from bench.chart import ChartError, bars, main, write_chart


def _document() -> dict[str, Any]:
    run = {"whole": {"start-up": {"ratio": 1.5}}, "plugin": {"difference_ms": 0.5}}
    return {
        "command": "python -m bench --quick",
        "machine": {"date": "2026-12-02T12:00:00+00:00"},
        "runs": [run],
        "verdict": [verdict.to_json() for verdict in verdicts([run])],
    }


def test_bars_follow_the_verdict_with_values_and_reasons() -> None:
    by_label = {bar.label: bar for bar in bars(_document())}
    startup = by_label["start-up: import hubcore  (<= 1.3x import anyio, msgpack)"]
    assert (startup.status, startup.text) == ("FAIL", "x1.50")
    assert startup.budget == pytest.approx(1.5 / 1.3)
    plugin = by_label["plugin: hub_app + sync call  (<= 1 ms)"]
    assert (plugin.status, plugin.text, plugin.budget) == ("PASS", "0.50 ms", 0.5)
    missing = by_label["async small-call p50  (<= 1.25x raw-asyncio)"]
    assert (missing.status, missing.budget) == ("n/a", None)
    assert missing.text == "not measured: systems/hubcore-async"


def test_a_file_without_a_verdict_is_refused_with_what_to_do() -> None:
    with pytest.raises(ChartError, match="write them with python -m bench --json PATH"):
        bars({"systems": {}})


def test_chart_command_reports_an_unreadable_file(tmp_path: Path, capsys: Any) -> None:
    assert main([str(tmp_path / "missing.json"), str(tmp_path / "out.png")]) == 1
    assert "bench.chart: error: cannot read" in capsys.readouterr().err
    assert main([]) == 2


def test_chart_is_written_as_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the chart needs the bench extra")
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_document()))
    out = tmp_path / "bench.png"
    write_chart(results, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bars_of_several_runs_carry_each_runs_share_of_the_budget() -> None:
    runs = [{"whole": {"start-up": {"ratio": ratio}}} for ratio in (1.3, 2.6, 0.65)]
    document = {"runs": runs, "verdict": [verdict.to_json() for verdict in verdicts(runs)]}
    startup = next(bar for bar in bars(document) if bar.label.startswith("start-up"))
    assert startup.budget == pytest.approx(1.0)  # the median, 1.3, is on the limit
    assert startup.spread == pytest.approx((1.0, 2.0, 0.5))
