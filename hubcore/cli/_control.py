"""``hubcore call`` / ``hubcore restart``: act on a running app through its hub."""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubcore._errors import RemoteError, unknown_name
from hubcore.cli._common import (
    CliError,
    Subparsers,
    Target,
    add_command,
    connect_app,
    hub_view,
    target_of,
    unknown_process,
)

if TYPE_CHECKING:
    from hubcore._directory import Directory

__all__ = ("add_parsers", "parse_value", "plain")

RESTART_TIMEOUT = 60.0


def add_parsers(sub: Subparsers) -> None:
    """Register ``call`` and ``restart``."""
    call = add_command(
        sub,
        "call",
        "Call a published method and print its result as JSON.",
        """
        hubcore call counter.increment 5 --app myapp
        hubcore call mailer.send '"bob@example.com"' --kw 'tags=["a", "b"]'
        """,
        details="""
        Each argument is parsed as JSON, or taken as a plain string if it is not JSON.
        A streaming method prints one line per item. If the method raises, the remote
        traceback is printed on stderr and the exit code is 1.
        """,
    )
    call.add_argument("target", metavar="NAME.METHOD", type=_name_method)
    call.add_argument("args", nargs="*", metavar="ARG", help="JSON values (or plain strings)")
    kw_help = "a keyword argument (repeatable)"
    call.add_argument(
        "--kw", action="append", default=[], type=_keyword, metavar="KEY=JSON", help=kw_help
    )
    call.add_argument("--timeout", type=float, default=10.0, metavar="S", help="default 10")
    call.set_defaults(func=run_call)
    restart = add_command(
        sub,
        "restart",
        "Restart one process, or every process; return once they are ready again.",
        "hubcore restart worker --app myapp",
        details="The instances of a scaled process restart one after the other.",
    )
    restart.add_argument(
        "process", nargs="?", help="a process name (worker) or instance (worker.1)"
    )
    restart.add_argument(
        "--timeout", type=float, default=RESTART_TIMEOUT, metavar="S", help="default 60"
    )
    restart.set_defaults(func=run_restart)


# --- call -------------------------------------------------------------------------------------


def _name_method(text: str) -> tuple[str, str]:
    name, dot, method = text.rpartition(".")
    if not (name and dot and method):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME.METHOD (e.g. counter.increment)")
    return name, method


def _keyword(text: str) -> tuple[str, Any]:
    key, eq, value = text.partition("=")
    if not (key and eq):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=JSON (e.g. by=5)")
    return key, parse_value(value)


def parse_value(text: str) -> Any:
    """A command-line argument as JSON if it is JSON, else as the string it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def plain(value: Any) -> Any:
    """A result made JSON-ready: bytes summarised, sets and tuples as lists, others repr()."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": len(value)}
    if isinstance(value, dict):
        return {_key(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed types: any stable order will do
            return sorted(items, key=repr)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(plain(key))


def _print_json(value: Any, *, indent: int | None = 2) -> None:
    print(json.dumps(plain(value), indent=indent, ensure_ascii=False))


def run_call(args: argparse.Namespace) -> int:
    """Call NAME.METHOD with the parsed arguments and print the result."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    name, method = args.target
    values = tuple(parse_value(a) for a in args.args)
    if not _call(target, name, method, values, dict(args.kw), args.timeout):
        import anyio  # a stream needs an event loop; a call does not

        anyio.run(_stream, target, name, method, values, dict(args.kw), args.timeout)
    return 0


def _call(
    target: Target,
    name: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float,
) -> bool:
    """Call and print the result, with the blocking calls of hubcore.sync (the proxies' rules:
    a call that never ran goes to the next process that publishes the name, within the
    timeout); False, doing nothing, if the method is a stream."""
    from hubcore.client._blocking import BlockingCalls

    with hub_view(target) as hub:
        hub.objects()
        if method in _check_method(hub.directory, name, method):
            return False
        calls = BlockingCalls(hub, hub.resolve, hub.crash_error)
        try:
            result = calls.call(name, method, args, kwargs, instance=None, timeout=timeout)
        finally:
            calls.close()
    _print_json(result)
    return True


async def _stream(
    target: Target,
    name: str,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float,
) -> None:
    from hubcore.client._proxy_ops import stream

    async with connect_app(target) as client:
        _check_method(client.directory, name, method)
        proxy = await client.get_proxy(name, timeout=timeout)
        async with await stream(proxy, method, args, kwargs) as items:
            async for item in items:
                _print_json(item, indent=None)


def _check_method(directory: Directory, name: str, method: str) -> tuple[str, ...]:
    """Fail fast on a name or method nobody publishes; the streaming methods of ``name``.

    The directory is the hub's, complete once read: no need to wait for names.
    """
    infos = directory.instances(name)
    if not infos:
        names = directory.names()
        listing = f"published: {', '.join(names) or 'nothing'}"
        raise CliError(unknown_name(f"nothing is published as {name!r}", name, names, listing))
    methods = infos[0].methods
    if method not in methods:
        listing = f"its methods: {', '.join(methods) or 'none'}"
        head = f"{name!r} has no method {method!r}"
        raise CliError(unknown_name(head, method, methods, listing))
    return infos[0].streams


# --- restart ----------------------------------------------------------------------------------


def run_restart(args: argparse.Namespace) -> int:
    """Restart the named process, or all of them, and say which pids replaced which."""
    target = target_of(args.app, args.rundir)
    target.require_procfile()
    changes = _restart(target, args.process, args.timeout)
    for label, old, new in changes:
        print(f"restarted {label} (pid {old or '-'} -> {new or '-'})")
    return 0


def _restart(
    target: Target, process: str | None, timeout: float
) -> list[tuple[str, int | None, int | None]]:
    with hub_view(target) as hub:
        spec = hub.call("control", "spec", {})
        scales = {name: int(p.get("scale", 1)) for name, p in spec["processes"].items()}
        requests = _restart_requests(scales, process)
        before = _pids(hub.processes())
        for request in requests:
            try:
                hub.call("control", "restart", request, timeout=timeout)
            except RemoteError as exc:  # the app refused: its message says why
                raise CliError(f"{exc.message} (the app is still running)") from None
        after = _pids(hub.processes())
    wanted = {r["process"] for r in requests}
    instance = requests[0].get("instance") if process else None
    return [
        (label, before.get(label), pid)
        for label, pid in after.items()
        if label.rpartition(".")[0] in wanted and instance in (None, int(label.rpartition(".")[2]))
    ]


def _restart_requests(scales: Mapping[str, int], process: str | None) -> list[dict[str, Any]]:
    """What to ask the app for ``hubcore restart [process]``.

    :param scales: each process of the app and its number of instances.
    :raises CliError: no such process or instance (the message lists those there are).
    """
    if process is None:
        return [{"process": name} for name in scales]
    if process in scales:
        return [{"process": process}]
    name, _, instance = process.rpartition(".")
    if name in scales and instance.isdigit():
        if int(instance) < scales[name]:
            return [{"process": name, "instance": int(instance)}]
        labels = ", ".join(f"{name}.{i}" for i in range(scales[name]))
        raise CliError(f"no instance {process!r} in the app; instances of {name}: {labels}")
    raise CliError(unknown_process(process, list(scales)))


def _pids(snapshots: list[dict[str, Any]]) -> dict[str, int | None]:
    return {f"{s['name']}.{s['instance']}": s.get("pid") for s in snapshots}
