"""The client's reconnection policy, without sockets: backoff, token source, the errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import hubcore
from hubcore.client._hublink import MAX_DELAY, Backoff, HubLink


def test_backoff_doubles_up_to_its_bound() -> None:
    top = Backoff(first=0.05, cap=2.0, rng=lambda: 1.0)  # jitter at its largest: no cut
    assert [round(top.next(), 3) for _ in range(8)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    top.reset()
    assert top.next() == 0.05


def test_backoff_is_jittered_between_half_and_all_of_each_delay() -> None:
    low = Backoff(first=0.05, cap=2.0, rng=lambda: 0.0)
    assert [round(low.next(), 3) for _ in range(7)] == [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
    delays = [Backoff().next() for _ in range(200)]
    assert len(set(delays)) > 100  # clients of one hub do not retry in step
    many = Backoff()
    assert max(many.next() for _ in range(100)) <= MAX_DELAY


def test_a_token_read_from_a_file_is_read_again_while_the_hub_is_down(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_bytes(b"new\n")
    link = HubLink("/x/hub.sock", b"old", token_file=str(token_file), reconnect=True)
    assert link.current_token() == b"new"  # down (never connected): the file decides
    token_file.unlink()
    assert link.current_token() == b"new"  # a hub that is away took its file along
    given = HubLink("/x/hub.sock", b"given", token_file=None, reconnect=True)
    assert given.current_token() == b"given"


def test_unreachable_says_which_hub_and_since_when() -> None:
    link = HubLink("/run/h/hub.sock", b"t", token_file=None, reconnect=True)
    link.lost("the other end closed the connection")
    error = link.unreachable("no reachable instance of 'db'")
    assert isinstance(error, hubcore.HubUnreachable)
    assert isinstance(error, hubcore.ConnectionLost)
    assert error.address == "/run/h/hub.sock"
    assert error.since == link.down_since
    when = time.strftime("%H:%M:%S", time.localtime(link.down_since))
    assert str(error).startswith(
        f"no reachable instance of 'db': the hub at /run/h/hub.sock is unreachable since {when} ("
    )
    assert "the other end closed the connection" in str(error)


def test_a_lost_hub_is_one_outage_until_it_is_back() -> None:
    link = HubLink("/run/h/hub.sock", b"t", token_file=None, reconnect=True)
    assert link.lost("first") is True
    since = link.down_since
    assert link.lost("again, while reconnecting") is True
    assert (link.down_since, link.why) == (since, "first")
    assert HubLink("/a", b"t", token_file=None, reconnect=False).lost("gone") is False


@pytest.mark.parametrize("reconnect", [True, False])
def test_a_link_that_never_connected_is_not_up(reconnect: bool) -> None:
    assert not HubLink("/a", b"t", token_file=None, reconnect=reconnect).up
