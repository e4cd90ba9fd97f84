"""Peak resident memory of a process over a window of work, read from Linux's /proc.

The kernel keeps a high-water mark of each process's RSS (``VmHWM`` in ``/proc/PID/status``,
what ``getrusage(RUSAGE_SELF).ru_maxrss`` reports for the process itself). Writing ``5`` to
``/proc/PID/clear_refs`` resets that mark to the current RSS, so a window is: reset the mark and
note the RSS, do the work, read the mark. The growth is the most memory the work held at once;
divided by a payload's size it says how many copies of it were alive together.

A process may read and reset these files of another process of the same user, so the bench
client measures its server too, and servers need no extra protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> bool:
    """Reset ``pid``'s RSS high-water mark to its current RSS; False if the kernel refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class PeakWindow:
    """Peak RSS growth of some processes between :meth:`open` and :meth:`close`.

    :param pids: the processes, by the side they play (``{"client": ..., "server": ...}``).
    """

    pids: dict[str, int]

    def open(self) -> None:
        """Reset every peak and note every RSS: the window starts now."""
        self._reset = {side: reset_peak(pid) for side, pid in self.pids.items()}
        self._start_kib = {side: _status_kib(pid, "VmRSS") for side, pid in self.pids.items()}

    def close(self, payload_size: int) -> dict[str, dict[str, float | str]]:
        """Per side: RSS at the start, peak, growth (MiB), growth in payloads, and the method.

        :param payload_size: bytes of one payload, to express the growth in copies.
        """
        sides: dict[str, dict[str, float | str]] = {}
        for side, pid in self.pids.items():
            start, peak = self._start_kib[side], _status_kib(pid, "VmHWM")
            growth = max(peak - start, 0) * 1024
            sides[side] = {
                "start_mib": start / 1024,
                "peak_mib": peak / 1024,
                "growth_mib": growth / 2**20,
                "payloads": growth / payload_size,
                # without a reset the mark may predate the window: then it overstates
                "method": "window peak" if self._reset[side] else "lifetime peak",
            }
        return sides
