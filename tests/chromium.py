"""Debian's Chromium for tests that need a real browser: where it is, and how to run it.

Without it, such tests skip with a one-line reason that says how to install it; under
``CI=true`` they fail instead, so that CI never passes without having run them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

__all__ = ("CHROMIUM", "CHROMIUM_ENV", "chromium", "headless", "in_ci", "require_chromium")

#: The browser the tests drive. The variable moves only where the check below looks: the
#: example's own tests point it at a missing file.
CHROMIUM_ENV = "HUBCORE_TEST_CHROMIUM"
CHROMIUM = "/usr/bin/chromium"


def chromium() -> Path:
    """Where the browser should be."""
    return Path(os.environ.get(CHROMIUM_ENV) or CHROMIUM)


def in_ci() -> bool:
    """Whether ``CI`` says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require_chromium(what: str = "this test needs") -> Path:
    """The browser; skip the test if it is missing (fail it under ``CI=true``)."""
    path = chromium()
    if os.access(path, os.X_OK):
        return path
    reason = f"{path} not found: {what} Debian's Chromium (as root: bash .ci/install-chromium.sh)"
    if in_ci():
        pytest.fail(f"{reason}; CI=true, so this fails instead of skipping", pytrace=False)
    pytest.skip(reason)


def headless(profile: Path, *args: str, timeout: float = 60) -> str:
    """Run the browser headless (its own profile in ``profile``) and return its stdout.

    The browser runs in a process group of its own, killed whole if it outlives ``timeout``.
    """
    command = [
        str(require_chromium()),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        encoding="utf-8",
        errors="replace",
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    finally:
        with contextlib.suppress(ProcessLookupError):  # what it left behind goes with it
            os.killpg(proc.pid, signal.SIGKILL)
    return out
