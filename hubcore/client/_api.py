"""The module-level entry points: ``connect``, and ``publish_object``/``get_proxy`` on a
default client built from the environment (``HUBCORE_ADDRESS``, ``HUBCORE_TOKEN_FILE``).
"""

from __future__ import annotations

import contextvars
import os
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from hubcore import _env
from hubcore._errors import HubError
from hubcore._rundir import TOKEN_FILE, find_app
from hubcore.client._client import Client, Publication
from hubcore.client._proxy import Proxy
from hubcore.protocol import DEFAULT_MAX_FRAME
from hubcore.rpc._chain import SERVING
from hubcore.transport._backend import running_backend

__all__ = (
    "close_default_client",
    "connect",
    "default_client",
    "get_proxy",
    "publish_object",
    "set_default_client",
)


def connect(
    address: str | os.PathLike[str] | None = None,
    *,
    app: str | os.PathLike[str] | None = None,
    token: bytes | str | None = None,
    process: str | None = None,
    instance: int | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME,
    reconnect: bool = True,
) -> Client:
    """A client for the hub at ``address``; use it as ``async with connect(...) as client``.

    :param address: the hub's socket; by default ``$HUBCORE_ADDRESS``.
    :param app: instead of an address, the procfile (or its folder) of a running app: join the
        hub in its run directory, :func:`hubcore.app_rundir`, as the ``hubcore`` command does.
    :param token: the hub's token; by default read from ``$HUBCORE_TOKEN_FILE``, else from the
        ``token`` file beside the socket (with ``app``: from the app's run directory). A token
        read from a file is read again before each reconnection; a token given here is kept.
    :param reconnect: when the hub is lost, connect again (with backoff) and publish this
        client's objects again; meanwhile calls to known names go on peer to peer. False: the
        client stays disconnected (an app's workers, whose hub going away means the app is
        gone).
    :raises HubError: no address given and ``HUBCORE_ADDRESS`` is not set, or no token found;
        with ``app``: no procfile there, or no app runs for it (the message says how to start it).
    :raises TypeError: both ``address`` and ``app`` were given.
    """
    token_file: str | None = None  # where the token was read: read again to reconnect
    if app is not None:
        if address is not None:
            raise TypeError("connect() takes an address or app=, not both")
        address, app_token = find_app(app)
        if token is None:
            token, token_file = app_token, str(Path(address).parent / TOKEN_FILE)
    path = str(address) if address is not None else os.environ.get(_env.ADDRESS)
    if not path:
        raise HubError(
            f"no hub address: pass one to connect(), or set {_env.ADDRESS} (and {_env.TOKEN_FILE}) "
            "as `hubcore dev` and the pytest plugin do for the processes they start"
        )
    if instance is None and os.environ.get(_env.INSTANCE, "").isdigit():
        instance = int(os.environ[_env.INSTANCE])
    if token is None:
        token, token_file = _token(path)
    return Client(
        path,
        token.encode() if isinstance(token, str) else token,
        process=process,
        instance=instance,
        max_frame_size=max_frame_size,
        token_file=token_file,
        reconnect=reconnect,
    )


def _token(address: str) -> tuple[bytes, str]:
    """The token from the environment's token file, or the one beside the socket; and that
    file."""
    candidates = [os.environ.get(_env.TOKEN_FILE), str(Path(address).parent / TOKEN_FILE)]
    for candidate in filter(None, candidates):
        try:
            return Path(candidate).read_bytes().strip(), candidate
        except OSError:
            continue
    raise HubError(
        f"no token for the hub at {address}: pass token=, or set {_env.TOKEN_FILE} to the hub's "
        "token file"
    )


# One default client per event loop, owned by a task of its own (not by the caller's task).
_defaults: dict[object, tuple[Client, anyio.Event, anyio.Event]] = {}


def set_default_client(client: Client) -> None:
    """Make ``client`` the one ``publish_object``/``get_proxy`` use in this event loop."""
    _defaults[anyio.lowlevel.current_token()] = (client, anyio.Event(), anyio.Event())


async def default_client() -> Client:
    """The default client of this event loop, connected from the environment on first use."""
    key = anyio.lowlevel.current_token()
    entry = _defaults.get(key)
    if entry is None or entry[0].closed:
        entry = _defaults[key] = await _spawn_default()
    return entry[0]


async def close_default_client() -> None:
    """Close this event loop's default client, if one was started."""
    entry = _defaults.pop(anyio.lowlevel.current_token(), None)
    if entry is not None:
        _client, stop, done = entry
        stop.set()
        with anyio.fail_after(10):
            await done.wait()


async def _spawn_default() -> tuple[Client, anyio.Event, anyio.Event]:
    client = connect()
    ready, stop, done = anyio.Event(), anyio.Event(), anyio.Event()
    failure: list[BaseException] = []

    async def host() -> None:
        try:
            async with client:
                ready.set()
                await stop.wait()
        except Exception as exc:
            failure.append(exc)
        finally:
            ready.set()
            done.set()

    if running_backend() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(host)
    else:
        import asyncio

        # Not in a copy of the caller's context as is: a default client first used while
        # serving a call must not carry that call (and its deadline) in everything it runs.
        context = contextvars.copy_context()
        context.run(SERVING.set, None)
        task = asyncio.get_running_loop().create_task(host(), context=context)
        _background.add(task)
        task.add_done_callback(_background.discard)
    await ready.wait()
    if failure:
        raise failure[0]
    return client, stop, done


_background: set[Any] = set()


async def publish_object(name: str, obj: Any) -> Publication:
    """Publish ``obj`` under ``name`` through the default client (see :meth:`Client.publish`)."""
    return await (await default_client()).publish(name, obj)


async def get_proxy(name: str, *, timeout: float = 10.0, instance: int | None = None) -> Proxy:
    """A proxy for ``name`` through the default client (see :meth:`Client.get_proxy`)."""
    return await (await default_client()).get_proxy(name, timeout=timeout, instance=instance)
