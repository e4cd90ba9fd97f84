"""The text the user reads: machine facts, the rows' tables, whole-process figures, verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench._rows import METRICS, SHORT, measured
from bench._targets import Verdict


def num(value: float) -> str:
    """A figure with as many digits as it deserves: 1,234 / 56.7 / 8.90."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """Align full rows in columns; a short row (a name and a note) just follows its name.

    :param align: ``l`` or ``r`` per column; by default the first is left-aligned, the rest
        right-aligned (figures).
    """
    align = align or "l" + "r" * (len(header) - 1)
    full = [row for row in [header, *rows] if len(row) == len(header)]
    widths = [max(len(row[i]) for row in full) for i in range(len(header))]
    widths[0] = max(widths[0], *(len(row[0]) for row in rows))
    lines = []
    for row in [header, *rows]:
        if len(row) == len(header):
            cells = [
                cell.ljust(width) if side == "l" else cell.rjust(width)
                for cell, width, side in zip(row, widths, align, strict=True)
            ]
        else:
            cells = [row[0].ljust(widths[0]), *row[1:]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _copies(payload: dict[str, Any]) -> str:
    peak = payload.get("peak_rss")
    if not peak:
        return "-"
    sides = [f"{peak[side]['payloads']:.1f}" for side in ("client", "server")]
    lifetime = any(peak[side]["method"] != "window peak" for side in ("client", "server"))
    return " / ".join(sides) + ("*" if lifetime else "")


def _absolute_cells(result: dict[str, Any]) -> list[str]:
    cells = [num(result["p50_us"]), num(result["p99_us"]), num(result["calls_per_s"])]
    for label in ("1 MiB", "16 MiB"):
        payload = result["payloads"][label]
        cells.append(f"{num(payload['ms'])} ({payload['mb_per_s']:,.0f} MB/s)")
    cells.append(_copies(result["payloads"]["16 MiB"]))
    return cells


def _ratio_cells(result: dict[str, Any]) -> list[str]:
    return [
        ", ".join(
            f"x{ratios[metric.key]:.1f} {SHORT.get(other, other)}"
            for other, ratios in result["ratios"].items()
        )
        for metric in METRICS
    ]


def rows_report(results: dict[str, dict[str, Any]]) -> str:
    """Absolute figures, then each row's cost against the baselines and its reference."""
    absolute, ratios, errors = [], [], []
    for name, result in results.items():
        if not measured(result):
            note = result.get("error") or result["skipped"]
            absolute.append([name, note.splitlines()[0]])
            ratios.append([name, note.splitlines()[0]])
            if "\n" in note:
                errors.append(f"{name}: {note}")
            continue
        absolute.append([name, *_absolute_cells(result)])
        ratios.append([name, *_ratio_cells(result)])
    header = ["system", *(m.label for m in METRICS), "16 MiB copies c/s"]
    return "\n".join(
        [
            table(header, absolute),
            "",
            "cost against the baselines of this run and the row's reference "
            "(x>1 = slower; calls/s as time per call)",
            table(["system", *(m.key for m in METRICS)], ratios),
            *(["", "errors:", *errors] if errors else []),
        ]
    )


def whole_report(whole: dict[str, dict[str, Any]]) -> str:
    """One line per fresh-process command (median ms, spread, runs), then the measure's ratio."""
    rows = []
    for measure, figures in whole.items():
        if "error" in figures:
            rows.append([measure, figures["error"].splitlines()[0]])
            continue
        for label, sample in figures["commands"].items():
            ms = sample["runs_ms"]
            spread = f"{num(min(ms))}-{num(max(ms))}"
            rows.append([measure, label, num(sample["median_ms"]), spread, str(len(ms))])
        if "ratio" in figures:
            rows.append(
                [measure, f"ratio {figures['ratio_label']}", f"x{figures['ratio']:.2f}", "", ""]
            )
    return table(["measure", "command", "median ms", "min-max ms", "runs"], rows, "llrrr")


def verdict_report(verdicts: Sequence[Verdict], runs: int, *, measured_only: bool = False) -> str:
    """The verdict table: each target, PASS/FAIL, the value (median over runs) and the target.

    :param measured_only: leave out the targets no part of the run measured (``--only``).
    """
    over = f"median of {runs} runs" if runs > 1 else "one run"
    rows = []
    for verdict in verdicts:
        if measured_only and verdict.note.startswith("not measured"):
            continue
        per_run = ", ".join("-" if v is None else verdict.format(v) for v in verdict.runs)
        rows.append(
            [
                verdict.target.label,
                verdict.status,
                verdict.format(verdict.value) if verdict.value is not None else "-",
                verdict.target.describe(),
                f"[{per_run}]" if runs > 1 else verdict.note,
            ]
        )
    header = ["target", "verdict", f"value ({over})", "target", "runs" if runs > 1 else "note"]
    return table(header, rows, "llrll")
