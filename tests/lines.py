"""Reading a child process's output line by line, with bounded waits."""

from __future__ import annotations

import re
import threading
from typing import IO, AnyStr


class Lines:
    """Reads a pipe in a thread, so a test can wait for a line with a deadline."""

    def __init__(self, pipe: IO[AnyStr]) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: IO[AnyStr]) -> None:
        for line in pipe:
            text = line.decode(errors="replace") if isinstance(line, bytes) else line
            with self._cond:
                self.lines.append(text)
                self._cond.notify_all()
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line matching ``pattern``; fails with the output so far if none comes."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return next(filter(None, map(regex.search, self.lines)), None)

        with self._cond:
            self._cond.wait_for(lambda: found() is not None or self.closed, timeout)
            match = found()
        assert match is not None, f"no line matching {pattern!r}; output:\n{self.text()}"
        return match

    def count(self, pattern: str) -> int:
        """How many lines read so far match ``pattern``."""
        regex = re.compile(pattern)
        with self._cond:
            return sum(1 for line in self.lines if regex.search(line))

    def text(self, join_timeout: float = 0.0) -> str:
        """Everything read so far (after waiting for the end of the pipe, if asked)."""
        self._thread.join(join_timeout)
        return "".join(self.lines)
