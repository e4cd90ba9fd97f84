"""Command-line values shared by ``python -m bench``, ``bench.scale`` and ``bench.soak``.

Each is checked when the command line is parsed, so a bad one fails at once with argparse's
usage error, not after minutes of measuring.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return number


def writable_file(text: str) -> Path:
    """A path whose folder exists: checked before a run of minutes, not after it."""
    path = Path(text)
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {str(path.parent)!r} to write {text!r} in")
    return path
