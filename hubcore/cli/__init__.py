"""The ``hubcore`` command: run a procfile app and talk to it from the shell.

Commands live in one module per group: ``_dev`` (dev), ``_daemon`` (start, stop), ``_inspect``
(ps, objects, logs, env), ``_control`` (call, restart), ``_hub`` (hub: a hub without an app),
``_trace`` (trace view, and what ``dev --trace`` records);
``_common`` finds the app and its run directory. Every failure the user can act on is one
``hubcore: error: ...`` line on stderr and exit code 1 (2 for usage errors, from argparse); a
Python traceback means a bug.

A command starts fast: only the module of the command that runs is imported (all of them for
``hubcore --help`` or a mistyped command), and each imports what it needs when it runs.
``ps``, ``objects``, ``call`` and ``restart`` ask the hub with blocking calls, on no event loop.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hubcore._errors import CallTimeout, HubError, reason
from hubcore.cli._common import CliError

__all__ = ("build_parser", "main")

EXIT_INTERRUPTED = 130

#: The modules that register the commands, in the order ``hubcore --help`` lists them.
_MODULES = ("_dev", "_daemon", "_inspect", "_control", "_hub", "_trace")
#: Each command and its module.
_COMMANDS = {
    "dev": "_dev",
    "start": "_daemon",
    "stop": "_daemon",
    "ps": "_inspect",
    "objects": "_inspect",
    "logs": "_inspect",
    "env": "_inspect",
    "call": "_control",
    "restart": "_control",
    "hub": "_hub",
    "trace": "_trace",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``hubcore`` argument parser with every subcommand, or with ``command`` only (all
    that parsing a command line for it needs)."""
    parser = argparse.ArgumentParser(
        prog="hubcore",
        description="Run a procfile app (a supervisor and a hub) and talk to it.",
        epilog="Example:\n  hubcore dev myapp/procfile.py\n  hubcore ps --app myapp\n\n"
        "`hubcore COMMAND --help` explains each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = (_COMMANDS[command],) if command in _COMMANDS else _MODULES
    for name in modules:
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "add_parsers", None) or module.add_parser
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the process exit code.

    :param argv: the arguments after ``hubcore``; default ``sys.argv[1:]``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        failure = _user_error(exc)
        if failure is None:
            raise  # a bug: the traceback is what the report needs
        print(f"hubcore: error: {failure}", file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else 1
    return code


def _user_error(exc: BaseException) -> str | None:
    """The message of an error the user can act on (unwrapping a lone grouped error)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    if isinstance(exc, CallTimeout) and exc.remote_stack:  # where the callee was, as pytest's
        stack = "".join(f"\n    {line}" for line in exc.remote_stack)
        return f"{reason(exc)}\n  where {exc.call} was (innermost last):{stack}"
    if isinstance(exc, CliError | HubError | OSError):
        return reason(exc)
    return None
