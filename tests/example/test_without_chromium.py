"""The example's tests without Chromium: they skip and say how to install it, except under
``CI=true``, where they fail. The real tests run in an inner session, with the browser path
pointed at a file that does not exist."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.example.conftest import CHROMIUM_ENV

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT_TESTS = Path(__file__).with_name("test_page_snapshot.py")
#: Every test of test_page_snapshot.py boots the example (the bad requests are 4 cases).
EXAMPLE_TESTS = 10


def _run_without_chromium(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *, ci: bool
) -> tuple[pytest.RunResult, Path]:
    missing = pytester.path / "no-chromium"
    monkeypatch.setenv(CHROMIUM_ENV, str(missing))
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess(
        str(SNAPSHOT_TESTS), "-p", "no:cacheprovider", "-rsE", timeout=100
    )
    return result, missing


@pytest.mark.timeout(120)
def test_example_tests_skip_without_chromium_naming_the_install_script(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, missing = _run_without_chromium(pytester, monkeypatch, ci=False)
    result.assert_outcomes(skipped=EXAMPLE_TESTS)
    reason = (
        f"{missing} not found: the example's tests need Debian's Chromium"
        " (as root: bash .ci/install-chromium.sh)"
    )
    skips = [line for line in result.outlines if line.startswith("SKIPPED ")]
    assert len(skips) == 1, skips  # one line for all of them
    assert skips[0].endswith(f": {reason}")


@pytest.mark.timeout(120)
def test_example_tests_fail_without_chromium_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, missing = _run_without_chromium(pytester, monkeypatch, ci=True)
    result.assert_outcomes(errors=EXAMPLE_TESTS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [f"ERROR *test_page_snapshot.py::* - Failed: {missing} not found: *; CI=true, *"]
    )
