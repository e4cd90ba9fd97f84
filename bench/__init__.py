"""Same-machine RPC benchmark: hubcore against a raw asyncio floor and multiprocessing.managers.

Run it with ``python -m bench`` from the repository root; docs/benchmarks.md explains the output.
"""

from pathlib import Path

APPS = Path(__file__).parent / "apps"  # the procfiles the whole-process measures run
