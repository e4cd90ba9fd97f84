"""The ``hubcore`` command: run a procfile app and talk to it from the shell.

Commands live in one module per group: ``_dev`` (dev), ``_daemon`` (start, stop), ``_inspect``
(ps, objects, logs, env), ``_control`` (call, restart), ``_hub`` (hub: a hub without an app),
``_trace`` (trace view, and what ``dev --trace`` records);
``_common`` finds the app and its run directory. Every failure the user can act on is one
``hubcore: error: ...`` line on stderr and exit code 1 (2 for usage errors, from argparse); a
Python traceback means a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hubcore._errors import HubError, reason
from hubcore.cli import _control, _daemon, _dev, _hub, _inspect, _trace
from hubcore.cli._common import CliError

__all__ = ("build_parser", "main")

EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The ``hubcore`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hubcore",
        description="Run a procfile app (a supervisor and a hub) and talk to it.",
        epilog="Example:\n  hubcore dev myapp/procfile.py\n  hubcore ps --app myapp\n\n"
        "`hubcore COMMAND --help` explains each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _dev.add_parser(sub)
    _daemon.add_parsers(sub)
    _inspect.add_parsers(sub)
    _control.add_parsers(sub)
    _hub.add_parser(sub)
    _trace.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the process exit code.

    :param argv: the arguments after ``hubcore``; default ``sys.argv[1:]``.
    """
    args = build_parser().parse_args(argv)
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
    if isinstance(exc, CliError | HubError | OSError):
        return reason(exc)
    return None
