"""Facts about the machine a run was measured on, printed first and kept in the JSON."""

from __future__ import annotations

import os
import platform
from datetime import datetime
from typing import Any

import psutil


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_facts() -> dict[str, Any]:
    return {
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_average": load_average(),
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


def facts_header(facts: dict[str, Any], command: str) -> str:
    return (
        f"{command}   {facts['date']}\n"
        f"{facts['cpu_count']} CPUs ({facts['cpus_usable']} usable), {facts['cpu_model']}, "
        f"{facts['memory_gib']} GiB\n"
        f"{facts['python']} on {facts['platform']}\n"
        f"load average at the start: {facts['load_average']} (shared machine: compare ratios)\n"
    )
