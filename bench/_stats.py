"""Small statistics for the benchmark: percentiles, medians, and baseline ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100) of ``values``, interpolating between ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p99 of per-call times, in microseconds."""
    return {
        "p50_us": percentile(samples_ns, 50) / 1000,
        "p99_us": percentile(samples_ns, 99) / 1000,
        "n": len(samples_ns),
    }


def median(values: Sequence[float]) -> float:
    """The median, for the repeated timings where outliers on a shared machine are common."""
    return statistics.median(values)


def cost_ratio(value: float, baseline: float, *, higher_is_better: bool) -> float:
    """How many times the baseline's cost ``value`` is: above 1 always means slower.

    Times divide directly; a rate (calls/s) is inverted, i.e. compared as time per call.
    """
    return baseline / value if higher_is_better else value / baseline
