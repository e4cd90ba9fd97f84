"""BULK frames between real sockets: used when both ends list the feature, never sent to an
end that did not (an older peer)."""

from __future__ import annotations

import anyio
import msgpack
import pytest

import hubcore
from hubcore.protocol import HEADER, Call, FrameDecoder, Result, encode_frame
from hubcore.protocol._bulk import BULK_KIND, BULK_MIN
from hubcore.rpc import _handshake
from hubcore.transport import ByteStream, connect_unix

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

PAYLOAD = bytes(range(256)) * (2 * BULK_MIN // 256)


class _Echo:
    def echo(self, value: object) -> object:
        return value


async def _raw_peer(client: hubcore.Client, features: list[str] | None) -> ByteStream:
    """A connection to ``client``'s peer listener, opened by hand: an end that lists
    ``features`` in its HELLO (None: an older end, which lists nothing)."""
    address = client.directory.peek("echo").address
    stream = await connect_unix(address)
    info: dict[str, object] = {"process": "raw"}
    if features is not None:
        info["features"] = features
    remote, _decoder, _frames = await _handshake.initiate(stream, client.token, info)
    assert "bulk" in remote["features"]  # the listener says it speaks it, either way
    return stream


async def _first_frames(stream: ByteStream, count: int) -> tuple[list[int], bytes]:
    """The kinds of the next ``count`` frames on ``stream`` (raw bytes of a BULK skipped), and
    everything read."""
    data, kinds, pos = b"", [], 0
    with anyio.fail_after(10):
        while len(kinds) < count:
            while len(data) - pos < HEADER or len(data) - pos - HEADER < int.from_bytes(
                data[pos : pos + HEADER], "big"
            ):
                chunk = await stream.receive()
                assert chunk, "the connection closed"
                data += chunk
            size = int.from_bytes(data[pos : pos + HEADER], "big")
            wire = msgpack.unpackb(data[pos + HEADER : pos + HEADER + size], strict_map_key=False)
            kinds.append(wire[0])
            pos += HEADER + size + (wire[2] if wire[0] == BULK_KIND else 0)
    return kinds, data


@pytest.mark.parametrize(
    ("features", "kinds"),
    [
        pytest.param(["bulk"], [BULK_KIND, 11], id="listed: BULK then RESULT"),
        pytest.param(None, [11], id="older peer: the value inside the RESULT"),
        pytest.param(["something-else"], [11], id="other features only"),
    ],
)
async def test_bulk_frames_go_only_to_an_end_that_listed_the_feature(
    client: hubcore.Client, features: list[str] | None, kinds: list[int]
) -> None:
    await client.publish("echo", _Echo())
    stream = await _raw_peer(client, features)
    try:
        await stream.send(encode_frame(Call(1, "echo", "echo", [PAYLOAD], {})))
        seen, data = await _first_frames(stream, len(kinds))
    finally:
        await stream.aclose()
    assert seen == kinds
    assert FrameDecoder().feed(data) == [Result(1, PAYLOAD)]


async def test_bulk_values_between_two_clients_round_trip(hub: hubcore.Hub) -> None:
    """Both ends are hubcore: arguments and results of every binary type go as BULK frames
    and arrive as bytes, next to small values and in keyword arguments."""
    async with (
        hubcore.connect(hub.address, token=hub.token, process="pub") as pub,
        hubcore.connect(hub.address, token=hub.token, process="caller") as caller,
    ):
        await pub.publish("echo", _Echo())
        proxy = await caller.get_proxy("echo")
        for value in (PAYLOAD, bytearray(PAYLOAD), memoryview(PAYLOAD)):
            result = await proxy.echo(value)
            assert type(result) is bytes
            assert result == PAYLOAD
        conn = caller.existing_connection(caller.directory.peek("echo"))
        assert conn is not None
        assert conn.bulk
        assert await hubcore.call(proxy, "echo", (1,)) == 1
