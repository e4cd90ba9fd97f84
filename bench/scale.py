"""``python -m bench.scale``: 64 workers under one supervisor, 200 clients in one process.

The runner boots bench/apps/scale.py with :class:`hubcore.App` (``worker`` scaled to
``--workers``, each publishing ``echo``) and times the boot. It then starts one client process
that opens ``--clients`` connections with ``hubcore.connect`` in one event loop, each with a
proxy pinned to instance ``i % workers`` (so every instance is called, and the caller holds
one peer connection per client rather than one per client and instance). The RSS of the
runner, which holds the hub and the supervisor, is read before the client starts and once all
its connections are open; then every client makes ``--calls`` sequential calls at once, and
the calls/s of the whole are reported. Not part of ``python -m bench``.

The client is this module too: ``python -m bench.scale client CLIENTS WORKERS CALLS``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import psutil

import hubcore
from bench import APPS
from bench._options import positive_int, writable_file
from bench._procs import BenchError, expect_line, stop, tell
from bench.clients import SMALL

STEP_TIMEOUT = 300.0


# --- the client process -------------------------------------------------------------------------


async def client(clients: int, workers: int, calls: int) -> None:
    """Open the clients, say CONNECTED, wait for a line on stdin, call, say DONE {json}."""
    async with AsyncExitStack() as stack:
        proxies = []
        for number in range(clients):
            connection = await stack.enter_async_context(hubcore.connect())
            proxy = await connection.get_proxy("echo", timeout=60, instance=number % workers)
            await proxy.echo(SMALL)  # opens this client's peer connection
            proxies.append(proxy)
        print("CONNECTED", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)

        async def calls_of(proxy: Any) -> None:
            for _ in range(calls):
                await proxy.echo(SMALL)

        start = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for proxy in proxies:
                tasks.start_soon(calls_of, proxy)
        seconds = time.perf_counter() - start
        print("DONE " + json.dumps({"calls": clients * calls, "seconds": seconds}), flush=True)


# --- the runner ---------------------------------------------------------------------------------


def _rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def _drive_client(rundir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start the client process, read the hub's RSS around its connections, time its calls.

    Blocking: run it in a thread, while the event loop goes on running the hub and supervisor.
    """
    env = {**os.environ, "HUBCORE_ADDRESS": str(rundir / "hub.sock")}
    env["HUBCORE_TOKEN_FILE"] = str(rundir / "token")
    argv = [sys.executable, "-m", "bench.scale", "client"]
    argv += [str(args.clients), str(args.workers), str(args.calls)]
    before = _rss_mib()
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True
    )
    try:
        expect_line(proc, "CONNECTED", STEP_TIMEOUT)
        after = _rss_mib()
        tell(proc, "go")
        done = json.loads(expect_line(proc, "DONE", STEP_TIMEOUT))
    finally:
        stop(proc)
    return {
        "hub_rss_mib": {"before": before, "after": after},
        "hub_kib_per_connection": (after - before) * 1024 / args.clients,
        "calls": done["calls"],
        "calls_per_s": done["calls"] / done["seconds"],
    }


async def scale(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["BENCH_SCALE_WORKERS"] = str(args.workers)  # read by bench/apps/scale.py
    with tempfile.TemporaryDirectory(prefix="hcb-") as tmp:
        start = time.perf_counter()
        async with hubcore.App(
            APPS / "scale.py", rundir=f"{tmp}/app", boot_timeout=STEP_TIMEOUT
        ) as app:
            boot = time.perf_counter() - start
            figures = await anyio.to_thread.run_sync(_drive_client, app.rundir, args)
    return {"workers": args.workers, "clients": args.clients, "boot_s": boot, **figures}


def report(result: dict[str, Any]) -> str:
    rss = result["hub_rss_mib"]
    return "\n".join(
        [
            f"boot of {result['workers']} worker processes: {result['boot_s']:.2f} s",
            f"hub (supervisor process) RSS: {rss['before']:.1f} MiB before "
            f"{result['clients']} client connections, {rss['after']:.1f} MiB after "
            f"({result['hub_kib_per_connection']:.1f} KiB per connection)",
            f"{result['calls']:,} calls from {result['clients']} clients across "
            f"{result['workers']} instances: {result['calls_per_s']:,.0f} calls/s",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:
        anyio.run(client, int(argv[1]), int(argv[2]), int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="Boot N workers under one supervisor, open M client connections from one "
        "process, call across every instance. See docs/benchmarks.md.",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=64, help="worker processes (default 64)"
    )
    parser.add_argument(
        "--clients", type=positive_int, default=200, help="connections (default 200)"
    )
    parser.add_argument(
        "--calls", type=positive_int, default=500, help="calls per client (default 500)"
    )
    parser.add_argument("--quick", action="store_true", help="8 workers, 20 clients, 100 calls")
    parser.add_argument(
        "--json", type=writable_file, metavar="PATH", help="also write the figures here"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.workers, args.clients, args.calls = 8, 20, 100
    try:
        result = anyio.run(scale, args)
    except (BenchError, hubcore.BootFailed, TimeoutError) as exc:
        print(f"bench.scale: error: {exc}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
