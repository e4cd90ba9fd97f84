"""Which frames a failing test's report hides: hubcore's, and the libraries' next to them."""

from __future__ import annotations

import concurrent.futures
import threading

import anyio.from_thread
import pytest

import hubcore.sync
import pytest_hub
from pytest_hub import _report
from pytest_hub._report import Frame, hidden

HUB, LIB, USER = Frame.HUB, Frame.LIBRARY, Frame.USER


@pytest.mark.parametrize(
    ("kinds", "hide"),
    [
        # a blocking call: the test, hubcore.sync, anyio's portal, concurrent.futures, then
        # the portal thread's anyio and hubcore frames
        ([USER, HUB, HUB, LIB, LIB, LIB, LIB, HUB, HUB], [0, 1, 1, 1, 1, 1, 1, 1, 1]),
        # hubcore calls back a predicate of the test, which raises
        ([USER, HUB, HUB, USER], [0, 1, 1, 0]),
        # ... and the predicate raises inside a library it calls
        ([USER, HUB, USER, LIB], [0, 1, 0, 0]),
        # a library the test calls raises by itself: pytest's business, not the plugin's
        ([USER, LIB, LIB], [0, 0, 0]),
        # contextlib between the test's `with` and hubcore's context manager
        ([USER, LIB, HUB, HUB], [0, 1, 1, 1]),
        # an exception chained inside hubcore, raised at the top of a thread hubcore runs
        ([LIB, LIB, HUB, LIB], [1, 1, 1, 1]),
        # a library between two frames of the test's own code
        ([USER, LIB, USER], [0, 0, 0]),
        ([LIB, LIB], [0, 0]),
        ([], []),
    ],
)
def test_hidden_frames_are_hubcore_and_the_libraries_next_to_it(
    kinds: list[Frame], hide: list[int]
) -> None:
    assert hidden(kinds) == [bool(h) for h in hide]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (hubcore.sync.__file__, HUB),
        (pytest_hub.__file__, HUB),
        (_report.__file__, HUB),
        (anyio.from_thread.__file__, LIB),
        (concurrent.futures.__file__, LIB),
        (threading.__file__, LIB),
        (pytest.__file__, LIB),
        ("<frozen importlib._bootstrap>", LIB),
        (__file__, USER),
    ],
)
def test_frames_are_told_apart_by_their_file(path: str, kind: Frame) -> None:
    assert _report._kind(path) is kind
