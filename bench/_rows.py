"""The rows: each system served from its own process and measured by a fresh client process.

A row is a :class:`System`: which server module to start, on which event loop, and what it
needs to be installed. :func:`measure_rows` measures them one after the other and gives each
its cost against the baselines of the same run (:data:`BASELINES`) and against its own
reference row, if it has one (hubcore-uvloop against raw-uvloop, hubcore-trio against
hubcore-async).
"""

from __future__ import annotations

import importlib
import importlib.util
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._procs import BenchError, run_client, running_server
from bench._stats import cost_ratio
from bench.clients import Settings

NOT_AVAILABLE = "hubcore: not available yet"
BASELINES = ("raw-asyncio", "mp-managers")
SHORT = {
    "raw-asyncio": "raw",
    "mp-managers": "mp",
    "raw-uvloop": "raw-uvloop",
    "hubcore-async": "async",
}


@dataclass(frozen=True)
class System:
    """One row of the table.

    :param server: the module started as ``python -m <server> SOCKET_PATH LOOP``.
    :param loop: the event loop of both ends (async systems; ignored by blocking servers).
    :param hubcore: the hubcore module that must offer ``connect`` for the row to run.
    :param requires: an optional package; without it the row is skipped, with a note.
    :param reference: a row this one is compared with, besides the baselines.
    """

    name: str
    server: str
    loop: str = "asyncio"
    hubcore: str | None = None
    requires: str | None = None
    reference: str | None = None


SYSTEMS = (
    System("raw-asyncio", "bench.servers.raw_asyncio"),
    System("mp-managers", "bench.servers.mp_managers"),
    System("raw-uvloop", "bench.servers.raw_asyncio", loop="uvloop", requires="uvloop"),
    System("hubcore-async", "bench.servers.hubcore_hub", hubcore="hubcore"),
    System("hubcore-sync", "bench.servers.hubcore_hub", hubcore="hubcore.sync"),
    System(
        "hubcore-uvloop",
        "bench.servers.hubcore_hub",
        loop="uvloop",
        hubcore="hubcore",
        requires="uvloop",
        reference="raw-uvloop",
    ),
    System(
        "hubcore-trio",
        "bench.servers.hubcore_hub",
        loop="trio",
        hubcore="hubcore",
        requires="trio",
        reference="hubcore-async",
    ),
    System("pyro5", "bench.servers.pyro5_daemon", requires="Pyro5"),
    System("rpyc", "bench.servers.rpyc_server", requires="rpyc"),
)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    value: Callable[[dict[str, Any]], float]
    higher_is_better: bool = False


METRICS = (
    Metric("p50", "p50 us", lambda r: r["p50_us"]),
    Metric("p99", "p99 us", lambda r: r["p99_us"]),
    Metric("calls/s", "calls/s @64", lambda r: r["calls_per_s"], higher_is_better=True),
    Metric("1 MiB", "1 MiB ms", lambda r: r["payloads"]["1 MiB"]["ms"]),
    Metric("16 MiB", "16 MiB ms", lambda r: r["payloads"]["16 MiB"]["ms"]),
)


def _unavailable(system: System) -> dict[str, str] | None:
    """``{"skipped": why}`` or ``{"error": why}`` when the row cannot run here, else None."""
    if system.requires and importlib.util.find_spec(system.requires) is None:
        package = system.requires
        return {"skipped": f"skipped: {package} is not installed (pip install {package})"}
    if system.hubcore:
        try:
            hubcore = importlib.import_module("hubcore")
            module = importlib.import_module(system.hubcore)
        except Exception as exc:
            return {"error": f"{NOT_AVAILABLE} (import failed: {exc})"}
        if not hasattr(hubcore, "serve_hub") or not hasattr(module, "connect"):
            return {"error": NOT_AVAILABLE}
    return None


def measure(
    system: System, rundir: Path, env: dict[str, str], settings: Settings
) -> dict[str, Any]:
    """Measure one system: its result dict, ``{"error": why}`` or ``{"skipped": why}``."""
    if (missing := _unavailable(system)) is not None:
        return missing
    started = time.monotonic()
    print(f"  {system.name} ...", end="", file=sys.stderr, flush=True)
    socket_path = rundir / f"{system.name}.sock"
    try:
        with running_server(system.server, socket_path, env, system.loop) as client_env:
            result = run_client(
                system.name, settings.to_json(), {**env, **client_env}, settings.client_timeout
            )
    except BenchError as exc:
        result = {"error": str(exc)}
    print(f" {time.monotonic() - started:.1f} s", file=sys.stderr)
    return result


def measure_rows(settings: Settings, only: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Measure every system (or those in ``only``), sockets in a private temp directory."""
    rundir = Path(tempfile.mkdtemp(prefix="hcb-"))
    env = {"BENCH_AUTHKEY": secrets.token_hex(16)}  # for mp-managers; in env, not on argv
    try:
        results = {
            system.name: measure(system, rundir, env, settings)
            for system in SYSTEMS
            if only is None or system.name in only
        }
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    add_ratios(results)
    return results


def measured(result: dict[str, Any]) -> bool:
    """Whether a row holds figures (not an error or a skip note)."""
    return "error" not in result and "skipped" not in result


def add_ratios(results: dict[str, dict[str, Any]]) -> None:
    """Give each measured row ``ratios[other][metric]`` (above 1 means slower).

    ``other`` is each baseline of the run, and the row's own reference if it has one.
    """
    references = {system.name: system.reference for system in SYSTEMS}
    for name, result in results.items():
        if not measured(result):
            continue
        others = [*BASELINES, *filter(None, [references.get(name)])]
        result["ratios"] = {
            other: {m.key: _ratio(m, result, results[other]) for m in METRICS}
            for other in others
            if other in results and measured(results[other])
        }


def _ratio(metric: Metric, result: dict[str, Any], base: dict[str, Any]) -> float:
    value, baseline = metric.value(result), metric.value(base)
    return cost_ratio(value, baseline, higher_is_better=metric.higher_is_better)
