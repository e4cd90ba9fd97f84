"""``python -m bench [--quick] [--json PATH]``: hubcore against its baselines, in one run.

Every system serves ``echo`` from its own server subprocess; a client subprocess measures
sequential latency, throughput with 64 calls in flight, and 1 MiB / 16 MiB round trips. The
table puts each system next to the two baselines measured minutes earlier on the same machine,
which is what makes the figures comparable on a shared, noisy box. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from bench._procs import BenchError, run_client, running_server
from bench._stats import cost_ratio
from bench.clients import FULL, QUICK, Settings

BASELINES = {"raw-asyncio": "raw", "mp-managers": "mp"}
NOT_AVAILABLE = "hubcore: not available yet"


@dataclass(frozen=True)
class System:
    name: str
    server: str  # module started as ``python -m <server> SOCKET_PATH``
    hubcore: str | None = None  # the hubcore module that must offer ``connect``


SYSTEMS = (
    System("raw-asyncio", "bench.servers.raw_asyncio"),
    System("mp-managers", "bench.servers.mp_managers"),
    System("hubcore-async", "bench.servers.hubcore_hub", hubcore="hubcore"),
    System("hubcore-sync", "bench.servers.hubcore_hub", hubcore="hubcore.sync"),
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


# --- measuring ---------------------------------------------------------------------------------


def hubcore_missing(module_name: str) -> str | None:
    """Why the hubcore rows cannot run yet, or None when the API they need is there."""
    try:
        hubcore = importlib.import_module("hubcore")
        module = importlib.import_module(module_name)
    except Exception as exc:
        return f"{NOT_AVAILABLE} (import failed: {exc})"
    if not hasattr(hubcore, "serve_hub") or not hasattr(module, "connect"):
        return NOT_AVAILABLE
    return None


def measure(system: System, rundir: Path, env: dict[str, str], settings: Settings) -> dict:
    """Measure one system: its result dict, or ``{"error": why}``."""
    if system.hubcore and (missing := hubcore_missing(system.hubcore)):
        return {"error": missing}
    started = time.monotonic()
    print(f"  {system.name} ...", end="", file=sys.stderr, flush=True)
    try:
        with running_server(system.server, rundir / f"{system.name}.sock", env) as client_env:
            result = run_client(
                system.name, settings.to_json(), {**env, **client_env}, settings.client_timeout
            )
    except BenchError as exc:
        result = {"error": str(exc)}
    print(f" {time.monotonic() - started:.1f} s", file=sys.stderr)
    return result


def measure_all(settings: Settings) -> dict[str, dict]:
    """Measure every system, one after the other, with sockets in a private temp directory."""
    rundir = Path(tempfile.mkdtemp(prefix="hubcore-bench-"))
    env = {"BENCH_AUTHKEY": secrets.token_hex(16)}  # for mp-managers; in env, not on argv
    try:
        return {system.name: measure(system, rundir, env, settings) for system in SYSTEMS}
    finally:
        shutil.rmtree(rundir, ignore_errors=True)


def add_ratios(results: dict[str, dict]) -> None:
    """Give each measured system ``ratios[baseline][metric]`` (above 1 means slower)."""
    for result in results.values():
        if "error" in result:
            continue
        result["ratios"] = {
            baseline: {m.key: _ratio(m, result, base) for m in METRICS}
            for baseline, base in results.items()
            if baseline in BASELINES and "error" not in base
        }


def _ratio(metric: Metric, result: dict, base: dict) -> float:
    value, baseline = metric.value(result), metric.value(base)
    return cost_ratio(value, baseline, higher_is_better=metric.higher_is_better)


def machine_facts() -> dict[str, Any]:
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- reporting ---------------------------------------------------------------------------------


def _num(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _absolute_cells(result: dict) -> list[str]:
    cells = [_num(result["p50_us"]), _num(result["p99_us"]), _num(result["calls_per_s"])]
    for label in ("1 MiB", "16 MiB"):
        payload = result["payloads"][label]
        cells.append(f"{_num(payload['ms'])} ({payload['mb_per_s']:,.0f} MB/s)")
    return cells


def _ratio_cells(result: dict) -> list[str]:
    cells = []
    for metric in METRICS:
        parts = [
            f"x{result['ratios'][baseline][metric.key]:.1f} {short}"
            if baseline in result["ratios"]
            else f"n/a {short}"
            for baseline, short in BASELINES.items()
        ]
        cells.append(", ".join(parts))
    return cells


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Align full rows in columns; a short row (a system and its error) just follows its name."""
    full = [row for row in [header, *rows] if len(row) == len(header)]
    widths = [max(len(row[i]) for row in full) for i in range(len(header))]
    widths[0] = max(widths[0], *(len(row[0]) for row in rows))
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])]
        if len(row) == len(header):
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        else:
            cells += row[1:]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def report(facts: dict[str, Any], results: dict[str, dict]) -> str:
    """The text the user reads: machine facts, absolute figures, ratios, then errors in full."""
    absolute, ratios, errors = [], [], []
    for name, result in results.items():
        if "error" in result:
            first_line = result["error"].splitlines()[0]
            absolute.append([name, first_line])
            ratios.append([name, first_line])
            if "\n" in result["error"]:
                errors.append(f"{name}: {result['error']}")
            continue
        absolute.append([name, *_absolute_cells(result)])
        ratios.append([name, *_ratio_cells(result)])
    return "\n".join(
        [
            _table(["system", *(m.label for m in METRICS)], absolute),
            "",
            "cost against the baselines of this run (x>1 = slower; calls/s as time per call)",
            _table(["system", *(m.key for m in METRICS)], ratios),
            *(["", "errors:", *errors] if errors else []),
            "",
            f"load average at the end: {facts['load_average_end']}",
        ]
    )


def facts_header(facts: dict[str, Any], command: str) -> str:
    return (
        f"{command}   {facts['date']}\n"
        f"{facts['cpu_count']} CPUs ({facts['cpus_usable']} usable), {facts['cpu_model']}, "
        f"{facts['memory_gib']} GiB\n"
        f"{facts['python']} on {facts['platform']}\n"
        f"load average at the start: {facts['load_average']} (shared machine: compare ratios)\n"
    )


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="hubcore against raw asyncio and multiprocessing.managers, in one run "
        "on this machine; see docs/benchmarks.md",
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations (10-30 s)")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    command = "python -m bench" + (" --quick" if args.quick else "")
    facts = machine_facts()
    print(facts_header(facts, command), flush=True)
    results = measure_all(settings)
    facts["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    add_ratios(results)
    print(report(facts, results))
    if args.json:
        document = {"command": command, "machine": facts, "settings": asdict(settings)}
        args.json.write_text(json.dumps({**document, "systems": results}, indent=2) + "\n")
    errors = [r["error"] for r in results.values() if "error" in r]
    return 1 if any(not error.startswith(NOT_AVAILABLE) for error in errors) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temporary directory removed")
