"""The project's speed targets, and the verdict of one or more runs against them.

Pure arithmetic on the run documents (no processes, no clocks), so it is tested on its own.
Each :class:`Target` reads one value from a run: a ratio phrased as the target is (``x0.85
raw-asyncio`` means 0.85 times raw-asyncio's calls/s, or 0.85 times its p50), or an absolute
figure (ms, copies of a payload). With several runs the verdict is on the median of the
per-run values, and every run's value is kept.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Run = dict[str, Any]


class Missing(Exception):
    """A run has no figure for a target: that part was not measured, skipped, or failed."""


def _part(run: Run, *path: str) -> Any:
    """``run[path[0]][path[1]]...``; a missing key or a part that failed raises Missing."""
    node: Any = run
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise Missing(f"not measured: {'/'.join(path[:2])}")
        node = node[key]
        if isinstance(node, dict) and ("error" in node or "skipped" in node):
            why = node.get("error") or node["skipped"]
            raise Missing(f"{key}: {why.splitlines()[0]}")
    return node


def row_ratio(row: str, reference: str, *figure: str) -> Callable[[Run], float]:
    """A target value: ``row``'s figure divided by ``reference``'s, both from the run's rows."""

    def value(run: Run) -> float:
        mine = float(_part(run, "systems", row, *figure))
        theirs = float(_part(run, "systems", reference, *figure))
        return mine / theirs

    return value


def figure(*path: str) -> Callable[[Run], float]:
    """A target value read as is from the run."""
    return lambda run: float(_part(run, *path))


@dataclass(frozen=True)
class Target:
    """One speed target: ``value(run) op limit``, ``unit`` saying what the value counts.

    ``unit`` is a row or command name for a ratio (``x`` values), or ``ms`` / ``payloads``.
    """

    key: str
    label: str
    op: Literal["<=", ">="]
    limit: float
    unit: str
    value: Callable[[Run], float] = field(repr=False, compare=False)

    @property
    def is_ratio(self) -> bool:
        return self.unit not in ("ms", "payloads")

    def format(self, value: float) -> str:
        if self.is_ratio:
            return f"x{value:.2f}"
        if self.unit == "payloads":
            return f"{value:.2f} payloads"
        return f"{value:.1f} ms" if abs(value) >= 10 else f"{value:.2f} ms"

    def describe(self) -> str:
        """The target as a phrase: ``<= 1.25x raw-asyncio``, ``<= 150 ms``."""
        if self.is_ratio:
            return f"{self.op} {self.limit:g}x {self.unit}"
        return f"{self.op} {self.limit:g} {self.unit}"

    def passes(self, value: float) -> bool:
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def budget(self, value: float) -> float:
        """How much of the target ``value`` uses: 1 is on the limit, below 1 passes.

        ``value / limit`` for an upper limit, ``limit / value`` for a lower one, so one axis
        (the chart's) reads the same way for every target.
        """
        if self.op == "<=":
            return value / self.limit
        return self.limit / value if value > 0 else float("inf")


ASYNC, SYNC, RAW, MP = "hubcore-async", "hubcore-sync", "raw-asyncio", "mp-managers"
BIG = "16 MiB"

TARGETS = (
    Target("async-p50", "async small-call p50", "<=", 1.25, RAW, row_ratio(ASYNC, RAW, "p50_us")),
    Target("sync-p50", "sync small-call p50", "<=", 1.0, MP, row_ratio(SYNC, MP, "p50_us")),
    Target(
        "async-rate-raw",
        "async calls/s, 64 in flight",
        ">=",
        0.8,
        RAW,
        row_ratio(ASYNC, RAW, "calls_per_s"),
    ),
    Target(
        "async-rate-mp",
        "async calls/s, 64 in flight",
        ">=",
        4.0,
        MP,
        row_ratio(ASYNC, MP, "calls_per_s"),
    ),
    Target(
        "sync-rate", "sync calls/s, 64 threads", ">=", 1.0, MP, row_ratio(SYNC, MP, "calls_per_s")
    ),
    Target(
        "big-async",
        "16 MiB MB/s, async",
        ">=",
        1.0,
        MP,
        row_ratio(ASYNC, MP, "payloads", BIG, "mb_per_s"),
    ),
    Target(
        "big-sync",
        "16 MiB MB/s, sync",
        ">=",
        1.0,
        MP,
        row_ratio(SYNC, MP, "payloads", BIG, "mb_per_s"),
    ),
    Target(
        "copies-async-client",
        "16 MiB peak RSS, async client",
        "<=",
        2.0,
        "payloads",
        figure("systems", ASYNC, "payloads", BIG, "peak_rss", "client", "payloads"),
    ),
    Target(
        "copies-sync-client",
        "16 MiB peak RSS, sync client",
        "<=",
        2.0,
        "payloads",
        figure("systems", SYNC, "payloads", BIG, "peak_rss", "client", "payloads"),
    ),
    Target(
        "copies-server",
        "16 MiB peak RSS, server",
        "<=",
        2.0,
        "payloads",
        figure("systems", ASYNC, "payloads", BIG, "peak_rss", "server", "payloads"),
    ),
    Target(
        "uvloop-rate",
        "uvloop calls/s, 64 in flight",
        ">=",
        0.8,
        "raw-uvloop",
        row_ratio("hubcore-uvloop", "raw-uvloop", "calls_per_s"),
    ),
    Target(
        "trio-p50",
        "trio small-call p50",
        "<=",
        1.5,
        ASYNC,
        row_ratio("hubcore-trio", ASYNC, "p50_us"),
    ),
    Target(
        "plugin",
        "plugin: hub_app + sync call",
        "<=",
        1.0,
        "ms",
        figure("plugin", "difference_ms"),
    ),
    Target(
        "start-up",
        "start-up: import hubcore",
        "<=",
        1.3,
        "import anyio, msgpack",
        figure("whole", "start-up", "ratio"),
    ),
    Target(
        "cli-ps",
        "CLI: hubcore ps",
        "<=",
        150,
        "ms",
        figure("whole", "cli", "commands", "hubcore ps", "median_ms"),
    ),
    Target(
        "cli-call",
        "CLI: hubcore call",
        "<=",
        150,
        "ms",
        figure("whole", "cli", "commands", "hubcore call", "median_ms"),
    ),
    Target(
        "boot",
        "boot: 3 processes to first call",
        "<=",
        2.0,
        "3 client starts side by side",
        figure("whole", "boot", "ratio"),
    ),
)


def value_of(target: Target, run: Run) -> tuple[float | None, str]:
    """The target's value in one run, or None and why it has none."""
    try:
        return target.value(run), ""
    except Missing as exc:
        return None, str(exc)
    except ZeroDivisionError:
        return None, "a reference figure is zero"


def median_over_runs(values: Sequence[float | None]) -> float | None:
    """The median of the runs that have a value; None when none has."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass(frozen=True)
class Verdict:
    """A target's verdict: the median over runs, each run's value, and PASS / FAIL / n/a."""

    target: Target
    value: float | None
    runs: list[float | None]
    note: str = ""

    @property
    def status(self) -> str:
        if self.value is None:
            return "n/a"
        return "PASS" if self.target.passes(self.value) else "FAIL"

    def format(self, value: float) -> str:
        return self.target.format(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.target.key,
            "label": self.target.label,
            "op": self.target.op,
            "limit": self.target.limit,
            "unit": self.target.unit,
            "target": self.target.describe(),
            "value": self.value,
            "runs": self.runs,
            "status": self.status,
            "budget": None if self.value is None else self.target.budget(self.value),
            "note": self.note,
        }


def verdicts(runs: Sequence[Run], targets: Sequence[Target] = TARGETS) -> list[Verdict]:
    """Judge every target on the median of its per-run values."""
    judged = []
    for target in targets:
        values, notes = zip(*(value_of(target, run) for run in runs), strict=True)
        value = median_over_runs(values)
        note = "" if value is not None else next((n for n in notes if n), "not measured")
        judged.append(Verdict(target, value, list(values), note))
    return judged
