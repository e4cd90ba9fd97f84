"""The runnable examples of the user documentation run, and leave nothing behind.

Every ```python block of the pages below whose first line is ``# doc-test`` is run as
``python -c <block>`` from the repository root. Other blocks are fragments and are not run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("core.md", "sync.md", "apps.md")
MARK = "# doc-test"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def doc_examples(page: str) -> list[tuple[int, str]]:
    """The runnable blocks of ``docs/<page>``, each with the line its fence opens on."""
    text = (ROOT / "docs" / page).read_text()
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(1))
        for match in BLOCK.finditer(text)
        if match.group(1).startswith(MARK + "\n")
    ]


EXAMPLES = [
    pytest.param(code, id=f"{page}:{line}") for page in PAGES for line, code in doc_examples(page)
]


def _environment(tmpdir: str) -> dict[str, str]:
    # A hub of the caller's must not leak in: the examples name their own hubs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBCORE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["TMPDIR"] = tmpdir  # where serve_hub() puts its run directory, checked afterwards
    return env


@pytest.mark.parametrize("page", PAGES)
def test_doc_page_has_runnable_examples(page: str) -> None:
    assert doc_examples(page), f"docs/{page} has no block starting with {MARK!r}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("code", EXAMPLES)
def test_doc_example_runs_and_cleans_up(code: str) -> None:
    """The example exits with 0 and leaves no process and no run directory behind."""
    # Short: Unix socket paths in the run directories below it are limited to 107 bytes.
    tmpdir = tempfile.mkdtemp(prefix="hcdoc-")
    try:
        subprocess.run(
            [sys.executable, "-c", code], timeout=60, check=True, cwd=ROOT, env=_environment(tmpdir)
        )
        left = _kill_leftovers(tmpdir)
        assert not left, f"the example left processes running: {left}"
        assert os.listdir(tmpdir) == [], "the example left files in its temporary directory"
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _kill_leftovers(tmpdir: str) -> list[str]:
    """Kill the processes the example started and left running (they inherited its TMPDIR)."""
    left = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get("TMPDIR") == tmpdir:
                left.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:80]}")
                proc.kill()
        except psutil.Error:
            continue  # gone, or not ours to read
    return left
