"""Which calls a proxy sends again after its publisher went away: those that never ran go to
the next generation of the name, within the same deadline; those that may have run never do
(a call runs at most once).

The publishers are pretend processes over in-memory connections (tests/unit/memory_peers.py);
the test plays the hub, publishing a new generation when the old one is gone.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import pytest

from hubcore import ConnectionLost, ObjectNotFound, ProcessCrashed
from hubcore._errors import CallNotTaken
from hubcore.client._proxy import Proxy
from hubcore.client._rules import never_ran
from tests.unit.memory_peers import MemoryClient

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(10)]

WAIT = 5.0


class Greeter:
    """One generation's object: counts the calls that reached it."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.calls = 0
        self.started = anyio.Event()

    def greet(self, name: str) -> str:
        self.calls += 1
        return f"hello {name} from generation {self.generation}"

    async def slow(self) -> None:
        self.calls += 1
        self.started.set()
        await anyio.sleep_forever()


def _proxy(client: MemoryClient) -> Proxy:
    return Proxy(client, "greeter", timeout=WAIT, methods=("greet", "slow"))


async def _connected(client: MemoryClient, greeter: Greeter) -> None:
    """Make the proxy's pool hold a connection to ``greeter``'s generation (one call)."""
    assert await _proxy(client).greet("warm-up") == f"hello warm-up from {_gen(greeter)}"
    greeter.calls = 0


def _gen(greeter: Greeter) -> str:
    return f"generation {greeter.generation}"


async def test_proxy_call_to_a_publisher_dead_before_it_left_goes_to_the_next_generation(
    client: MemoryClient,
) -> None:
    """Generation 1 died just before the call, and this client has not read the end of its
    connection yet: the call goes out on it and fails with ProcessCrashed. The crash came
    before the call left, so it never ran: it goes to generation 2 once the hub publishes it."""
    first, second = Greeter(1), Greeter(2)
    gen1 = client.publish("greeter", first, generation=1)
    await _connected(client, first)

    async def restart() -> None:
        client.directory.remove(gen1.info)
        client.publish("greeter", second, generation=2)

    async with anyio.create_task_group() as tg:
        gen1.crash()
        tg.start_soon(restart)
        # No await between the death and the call: its CALL is written on the old connection.
        result = await _proxy(client).greet("ada")
    assert result == "hello ada from generation 2"
    assert client.crash_reports == 1  # it failed on the old connection, as a crash
    assert (first.calls, second.calls) == (0, 1)


async def test_proxy_call_that_may_have_run_is_never_sent_again(client: MemoryClient) -> None:
    """The publisher died while running the call: ProcessCrashed, and the next generation,
    already published, never sees the call."""
    first, second = Greeter(1), Greeter(2)
    gen1 = client.publish("greeter", first, generation=1)
    outcome: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_failure, outcome, _proxy(client).slow())
        with anyio.fail_after(WAIT):
            await first.started.wait()
        gen1.crash()
        client.directory.remove(gen1.info)
        client.publish("greeter", second, generation=2)
    assert type(outcome[0]) is ProcessCrashed, outcome
    assert (first.calls, second.calls) == (1, 0)


async def test_proxy_call_not_taken_before_a_goodbye_goes_to_the_next_generation(
    client: MemoryClient,
) -> None:
    """Generation 1 leaves on purpose as the call goes out: its GOODBYE says it took no call,
    so the call never ran, and goes to generation 2."""
    first, second = Greeter(1), Greeter(2)
    gen1 = client.publish("greeter", first, generation=1)
    await _connected(client, first)
    result: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_append, result, _proxy(client).greet("ada"))
        await gen1.leave()
        client.publish("greeter", second, generation=2)
    assert result == ["hello ada from generation 2"]
    assert (first.calls, second.calls) == (0, 1)
    assert client.crash_reports == 0


async def test_proxy_call_taken_before_a_goodbye_is_never_sent_again(
    client: MemoryClient,
) -> None:
    first, second = Greeter(1), Greeter(2)
    gen1 = client.publish("greeter", first, generation=1)
    outcome: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_failure, outcome, _proxy(client).slow())
        with anyio.fail_after(WAIT):
            await first.started.wait()
        client.publish("greeter", second, generation=2)
        await gen1.leave()
    assert type(outcome[0]) is ConnectionLost, outcome
    assert (first.calls, second.calls) == (1, 0)


async def test_proxy_publisher_that_no_longer_listens_is_skipped(client: MemoryClient) -> None:
    """Nothing answers at generation 1's address (it died before this client connected):
    the call waits for the next generation."""
    first, second = Greeter(1), Greeter(2)
    gen1 = client.publish("greeter", first, generation=1)
    gen1.crash()
    result: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_append, result, _proxy(client).greet("ada"))
        with anyio.fail_after(WAIT):
            await client.waiting.wait()  # for a generation other than 1
        client.publish("greeter", second, generation=2)
    assert result == ["hello ada from generation 2"]
    assert client.crash_reports == 0


async def test_proxy_retry_keeps_the_call_deadline(client: MemoryClient) -> None:
    """A call whose publisher is gone waits for the next one only within its own timeout."""
    gen1 = client.publish("greeter", Greeter(1), generation=1)
    gen1.crash()
    proxy = Proxy(client, "greeter", timeout=0.05, methods=("greet",))
    with anyio.fail_after(WAIT), pytest.raises(ObjectNotFound):
        await proxy.greet("ada")


async def _append(into: list[Any], call: Any) -> None:
    into.append(await call)


async def _failure(into: list[BaseException], call: Any) -> None:
    try:
        await call
    except ConnectionLost as exc:
        into.append(exc)


@pytest.mark.parametrize(
    ("error", "goodbye", "closed", "expected"),
    [
        (ProcessCrashed("x", ended_at=99.0), False, True, True),  # dead before the call left
        (ProcessCrashed("x", ended_at=100.0), False, True, False),  # died while it may have run
        (ProcessCrashed("x"), False, True, False),  # when it died is not known
        (CallNotTaken("x"), True, True, True),  # it left before taking the call
        (ConnectionLost("x"), False, True, True),  # nothing listened any more
        (ConnectionLost("x"), True, True, False),  # it left after taking the call
        (ConnectionLost("x"), False, False, False),  # still open: the call may be running
    ],
    ids=[
        "crash before",
        "crash after",
        "crash unknown",
        "not taken",
        "gone",
        "left after",
        "open",
    ],
)
def test_never_ran_decides_which_calls_go_to_the_next_generation(
    error: ConnectionLost, goodbye: bool, closed: bool, expected: bool
) -> None:
    """The one rule the async proxy and hubcore.sync's blocking calls both follow."""
    assert never_ran(error, 100.0, goodbye=goodbye, closed=closed) is expected
