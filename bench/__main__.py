"""``python -m bench``: hubcore against its baselines and its speed targets, in one run.

Every system serves ``echo`` from its own server subprocess; a client subprocess measures
sequential latency, throughput with 64 calls in flight, and 1 MiB / 16 MiB round trips (with
both sides' peak RSS). Whole-process measures (start-up, CLI, boot) and the plugin's per-test
overhead follow. A verdict judges every speed target on ratios within the run; ``--runs N``
repeats the whole measurement and judges the median. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench._machine import facts_header, load_average, machine_facts
from bench._options import positive_int, writable_file
from bench._plugin import measure_plugin
from bench._procs import BenchError
from bench._report import rows_report, verdict_report, whole_report
from bench._rows import NOT_AVAILABLE, SYSTEMS, measure_rows
from bench._targets import verdicts
from bench._whole import measure_whole
from bench.clients import FULL, QUICK, Settings

MEASURES = ("start-up", "cli", "boot", "plugin")


@dataclass(frozen=True)
class Plan:
    """How much one run measures; ``--quick`` and the full run differ only here."""

    rows: Settings
    whole_runs: int  # fresh processes per command, start-up and CLI
    boot_runs: int  # boots (each against three imports side by side)
    plugin_tests: int  # inner-session tests of each kind


FULL_PLAN = Plan(FULL, whole_runs=20, boot_runs=10, plugin_tests=300)
QUICK_PLAN = Plan(QUICK, whole_runs=5, boot_runs=3, plugin_tests=60)


def run_once(plan: Plan, only: set[str] | None) -> dict[str, Any]:
    """One whole measurement: rows, whole-process measures, plugin overhead."""
    run: dict[str, Any] = {}
    wanted = {s.name for s in SYSTEMS} if only is None else only
    if wanted & {s.name for s in SYSTEMS}:
        print("rows:", file=sys.stderr)
        run["systems"] = measure_rows(plan.rows, wanted)
    if only is None or only & {"start-up", "cli", "boot"}:
        print("whole-process measures:", file=sys.stderr)
        run["whole"] = measure_whole(plan.whole_runs, plan.boot_runs, only)
    if only is None or "plugin" in only:
        print("plugin overhead ...", file=sys.stderr, flush=True)
        try:
            run["plugin"] = measure_plugin(plan.plugin_tests)
        except BenchError as exc:
            run["plugin"] = {"error": str(exc)}
    run["load_average_end"] = load_average()
    return run


def run_report(run: dict[str, Any]) -> str:
    parts = []
    if "systems" in run:
        parts.append(rows_report(run["systems"]))
    if "whole" in run:
        parts.append(whole_report(run["whole"]))
    if "plugin" in run:
        parts.append(plugin_line(run["plugin"]))
    parts.append(f"load average at the end: {run['load_average_end']}")
    return "\n\n".join(parts)


def plugin_line(plugin: dict[str, Any]) -> str:
    if "error" in plugin:
        return f"plugin overhead: {plugin['error']}"
    return (
        f"plugin overhead: {plugin['difference_ms']:.2f} ms per test "
        f"(hub_app + sync call {plugin['hub_app_ms']:.2f} ms, local call "
        f"{plugin['local_ms']:.2f} ms; medians of {plugin['tests_per_kind']} tests of each "
        f"kind, {plugin['left_out']} left out)"
    )


def failures(run: dict[str, Any]) -> list[str]:
    """Errors of a run that count as a failure to measure (not skips, not 'not available')."""
    parts = [*run.get("systems", {}).values(), *run.get("whole", {}).values()]
    parts += [run["plugin"]] if "plugin" in run else []
    errors = [part["error"] for part in parts if "error" in part]
    return [error for error in errors if not error.startswith(NOT_AVAILABLE)]


def parse_only(text: str | None) -> set[str] | None:
    if text is None:
        return None
    known = [*(s.name for s in SYSTEMS), *MEASURES]
    names = {name.strip() for name in text.split(",") if name.strip()}
    if "rows" in names:
        names = (names - {"rows"}) | {s.name for s in SYSTEMS}
    if unknown := names - set(known):
        raise argparse.ArgumentTypeError(
            f"unknown in --only: {', '.join(sorted(unknown))}; choose from rows, {', '.join(known)}"
        )
    return names


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the servers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="hubcore against raw asyncio, multiprocessing.managers and its speed "
        "targets, in one run on this machine; see docs/benchmarks.md",
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations (about 1 min)")
    parser.add_argument(
        "--runs",
        type=positive_int,
        default=1,
        metavar="N",
        help="repeat the whole measurement N times; the verdict is on medians "
        "(3 for a report; default 1)",
    )
    parser.add_argument(
        "--json", metavar="PATH", type=writable_file, help="also write every figure here"
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        type=parse_only,
        help=f"measure only these, comma-separated: rows, a row's name, {', '.join(MEASURES)}",
    )
    parser.add_argument(
        "--scale", action="store_true", help="run the scale measure instead (python -m bench.scale)"
    )
    return parser


def _json_option(path: Path | None) -> list[str]:
    return ["--json", str(path)] if path else []


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    args = build_parser().parse_args(argv)
    if args.scale:
        from bench import scale

        return scale.main([*(["--quick"] if args.quick else []), *_json_option(args.json)])
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    facts = machine_facts()
    print(facts_header(facts, command), flush=True)
    runs = []
    for number in range(1, args.runs + 1):
        if args.runs > 1:
            print(f"run {number} of {args.runs}", file=sys.stderr)
        runs.append(run_once(plan, args.only))
        print(f"--- run {number} of {args.runs} ---\n" if args.runs > 1 else "", end="")
        print(run_report(runs[-1]) + "\n", flush=True)
    judged = verdicts(runs)
    print(verdict_report(judged, len(runs), measured_only=args.only is not None))
    if args.json:
        document = {"command": command, "machine": facts, "settings": asdict(plan), "runs": runs}
        document["verdict"] = [verdict.to_json() for verdict in judged]
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any(failures(run) for run in runs) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temporary directories removed")
