"""``python -m bench.soak [--calls N]``: a million calls, and what they leave in memory.

Three processes: a hub (bench.servers.hub_only), a callee that publishes ``echo``, and a caller
that makes N calls (default 1,000,000) with 64 in flight on one connection, as the throughput
row does. The RSS of each is read (psutil) after the caller's warm-up and again once the calls
are done, while every connection is still open; a leak per call shows as growth. Not part of
``python -m bench``: it takes minutes. Try it small first: ``--calls 20000``.

The callee and caller are this module too: ``python -m bench.soak callee|caller ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import psutil

import hubcore
from bench._options import positive_int, writable_file
from bench._procs import BenchError, expect_line, running_server, stop, tell
from bench.clients import CONCURRENCY, SMALL
from bench.servers import Echo

WARMUP = 2_000
READY_TIMEOUT = 30.0


# --- the two roles ------------------------------------------------------------------------------


async def callee() -> None:
    """Publish ``echo`` on the hub of the environment, say READY, serve until stdin closes."""
    async with hubcore.connect() as client:
        await client.publish("echo", Echo())
        print("READY", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)


async def caller(calls: int, in_flight: int) -> None:
    """Warm up, say WARM, wait for a line on stdin, make ``calls`` calls, say DONE {json}."""
    async with hubcore.connect() as client:
        proxy = await client.get_proxy("echo", timeout=10)
        for _ in range(WARMUP):
            await proxy.echo(SMALL)
        print("WARM", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        per_task, extra = divmod(calls, in_flight)

        async def worker(count: int) -> None:
            for _ in range(count):
                await proxy.echo(SMALL)

        start = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for number in range(in_flight):
                tasks.start_soon(worker, per_task + (number < extra))
        seconds = time.perf_counter() - start
        print("DONE " + json.dumps({"calls": calls, "seconds": seconds}), flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # keep the connections until told


# --- the runner ---------------------------------------------------------------------------------


def _start(role: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.soak", *role],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **env},
        start_new_session=True,
    )


def _rss_mib(pids: dict[str, int]) -> dict[str, float]:
    return {name: psutil.Process(pid).memory_info().rss / 2**20 for name, pid in pids.items()}


def _run_roles(env: dict[str, str], calls: int, in_flight: int, timeout: float) -> dict[str, Any]:
    """Start callee and caller against the hub of ``env``; RSS of all three around the calls."""
    with ExitStack() as procs:
        callee_proc = _start(["callee"], env)
        procs.callback(stop, callee_proc)
        expect_line(callee_proc, "READY", READY_TIMEOUT)
        caller_proc = _start(["caller", str(calls), str(in_flight)], env)
        procs.callback(stop, caller_proc)
        expect_line(caller_proc, "WARM", READY_TIMEOUT)
        pids = {"hub": int(env["BENCH_SERVER_PID"]), "callee": callee_proc.pid}
        pids["caller"] = caller_proc.pid
        before = _rss_mib(pids)
        tell(caller_proc, "go")
        done = json.loads(expect_line(caller_proc, "DONE", timeout))
        after = _rss_mib(pids)
    rss = {
        name: {"before": before[name], "after": after[name], "growth": after[name] - before[name]}
        for name in pids
    }
    return {"seconds": done["seconds"], "calls_per_s": calls / done["seconds"], "rss_mib": rss}


def soak(calls: int, in_flight: int, timeout: float) -> dict[str, Any]:
    """Run a hub, then the callee and the caller against it; the calls' rate and RSS figures."""
    rundir = Path(tempfile.mkdtemp(prefix="hcb-"))
    try:
        with running_server("bench.servers.hub_only", rundir / "hub.sock", {}) as env:
            figures = _run_roles(env, calls, in_flight, timeout)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    return {"calls": calls, "in_flight": in_flight, **figures}


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['calls']:,} calls, {result['in_flight']} in flight: "
        f"{result['seconds']:.1f} s, {result['calls_per_s']:,.0f} calls/s",
        "",
        f"{'process':8}  {'RSS before MiB':>14}  {'after MiB':>9}  {'growth MiB':>10}",
    ]
    for name, rss in result["rss_mib"].items():
        lines.append(f"{name:8}  {rss['before']:14.1f}  {rss['after']:9.1f}  {rss['growth']:10.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["callee"]:
        anyio.run(callee)
        return 0
    if argv[:1] == ["caller"]:
        anyio.run(caller, int(argv[1]), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="N calls (64 in flight) through a hub; RSS of hub, caller and callee "
        "before and after. See docs/benchmarks.md.",
    )
    parser.add_argument("--calls", type=positive_int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--in-flight", type=positive_int, default=CONCURRENCY, help="default 64")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the calls")
    parser.add_argument(
        "--json", type=writable_file, metavar="PATH", help="also write the figures here"
    )
    args = parser.parse_args(argv)
    try:
        result = soak(args.calls, args.in_flight, args.timeout)
    except BenchError as exc:
        print(f"bench.soak: error: {exc}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
