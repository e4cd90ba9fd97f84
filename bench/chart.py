"""``python -m bench.chart RESULTS_JSON OUT_PNG``: the verdict of a run as one figure.

Each target is a horizontal bar: how much of its budget the median value uses (value / limit
for an upper limit, limit / value for a lower one, see :meth:`bench._targets.Target.budget`),
on a log axis with the limit at 1. Bars left of the line pass. With several runs, a tick marks
each run's value. Targets without a value are listed as n/a. Needs matplotlib:
``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLOURS = {"PASS": "#2e7d32", "FAIL": "#c62828"}


class ChartError(Exception):
    """The results cannot be charted; the message says why and what to do."""


@dataclass(frozen=True)
class Bar:
    label: str  # the target and its limit
    budget: float | None  # None: not measured
    status: str  # PASS / FAIL / n/a
    text: str  # the value as the verdict table prints it
    spread: tuple[float, ...] = ()  # each run's budget, drawn as ticks over the bar


def bars(document: dict[str, Any]) -> list[Bar]:
    """One bar per target of a ``python -m bench --json`` document, in the verdict's order.

    :raises ChartError: the document has no verdict (not written by ``python -m bench``).
    """
    verdict = document.get("verdict")
    if not isinstance(verdict, list):
        raise ChartError(
            "no 'verdict' list in the results: write them with python -m bench --json PATH"
        )
    return [
        Bar(
            label=f"{item['label']}  ({item['target']})",
            budget=item["budget"],
            status=item["status"],
            text=item["note"] if item["value"] is None else _value_text(item),
            spread=tuple(_budget(item, v) for v in item["runs"] if v is not None)
            if len(item["runs"]) > 1
            else (),
        )
        for item in verdict
    ]


def _budget(item: dict[str, Any], value: float) -> float:
    """One run's share of the budget, as :meth:`bench._targets.Target.budget` computes it."""
    if item["op"] == "<=":
        return float(value / item["limit"])
    return float(item["limit"] / value) if value > 0 else float("inf")


def _value_text(item: dict[str, Any]) -> str:
    value = item["value"]
    if item["unit"] == "ms":
        return f"{value:.2f} ms" if abs(value) < 10 else f"{value:.0f} ms"
    if item["unit"] == "payloads":
        return f"{value:.2f} payloads"
    return f"x{value:.2f}"


def title(document: dict[str, Any]) -> str:
    runs = len(document.get("runs", [])) or 1
    over = f"median of {runs} runs" if runs > 1 else "one run"
    machine = document.get("machine", {})
    return f"{document.get('command', 'python -m bench')}\n{over}, {machine.get('date', '?')}"


def _limits(chart_bars: list[Bar]) -> tuple[float, float]:
    """The x range: at least 0.5-2 around the limit, and room for every bar and its label."""
    measured = [b.budget for b in chart_bars if b.budget is not None and b.budget > 0]
    measured += [run for b in chart_bars for run in b.spread if 0 < run < float("inf")]
    return min([0.5, *measured]) / 1.5, max([2.0, *measured]) * 3


def _draw_bars(axes: Any, chart_bars: list[Bar], low: float) -> list[int]:
    """One bar (or an n/a note) per target, the first at the top; return their y positions."""
    positions = list(range(len(chart_bars)))[::-1]
    for y, bar in zip(positions, chart_bars, strict=True):
        if bar.budget is None or bar.budget <= 0:
            axes.text(low * 1.05, y, f"n/a: {bar.text}", va="center", fontsize=8, color="grey")
            continue
        axes.barh(y, bar.budget - low, left=low, color=COLOURS.get(bar.status, "grey"))
        if bar.spread:
            axes.plot(bar.spread, [y] * len(bar.spread), "|", color="black", markersize=12)
        right = max([bar.budget, *bar.spread])
        axes.text(right * 1.04, y, f"{bar.status} {bar.text}", va="center", fontsize=8)
    return positions


def draw(chart_bars: list[Bar], heading: str, out: Path) -> None:
    """Write the figure to ``out`` (PNG).

    :raises ChartError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ChartError('the chart needs matplotlib: pip install -e ".[bench]"') from None
    low, high = _limits(chart_bars)
    figure, axes = plt.subplots(figsize=(11, 0.42 * len(chart_bars) + 1.6))
    positions = _draw_bars(axes, chart_bars, low)
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlim(low, high)
    ticks = [t for t in (0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64) if low <= t <= high]
    axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes.minorticks_off()
    axes.set_yticks(positions, [bar.label for bar in chart_bars], fontsize=8)
    axes.set_xlabel("share of the target's budget (1 = at the limit; left of the line passes)")
    axes.set_title(heading, fontsize=9)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)


def write_chart(results: Path, out: Path) -> None:
    """Read a ``python -m bench --json`` file and write its chart.

    :raises ChartError: the file cannot be read, holds no verdict, or matplotlib is missing.
    """
    if not out.parent.is_dir():
        raise ChartError(f"no folder {str(out.parent)!r} to write the chart in")
    try:
        document = json.loads(results.read_text())
    except (OSError, ValueError) as exc:
        raise ChartError(f"cannot read {results}: {exc}") from None
    draw(bars(document), title(document), out)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.chart RESULTS_JSON OUT_PNG", file=sys.stderr)
        return 2
    try:
        write_chart(Path(argv[0]), Path(argv[1]))
    except ChartError as exc:
        print(f"bench.chart: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
