"""The builders of one process and one service, as ``app.process()``/``app.service()`` return them.

Each method checks its own arguments at once and raises a :class:`ProcfileError` that names the
procfile and the line of the call (found by :class:`Site`); checks that need the whole app run
later, in :meth:`hubcore.app._procfile.ProcfileBuilder.build`. A builder's :meth:`build` returns
its plain spec record (:mod:`hubcore.app._spec`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from types import FrameType
from typing import Any

from hubcore._errors import ProcfileError
from hubcore.app._spec import DEFAULT_PROCESS, ProcessSpec, RestartPolicy, ServiceSpec

__all__ = ("ProcessBuilder", "ServiceBuilder", "Site", "check_name")


# Process names end up in socket file names and environment variables: keep them plain.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
_UNITS = {
    "": 1,
    "B": 1,
    "K": 2**10,
    "KIB": 2**10,
    "KB": 10**3,
    "M": 2**20,
    "MIB": 2**20,
    "MB": 10**6,
    "G": 2**30,
    "GIB": 2**30,
    "GB": 10**9,
    "T": 2**40,
    "TIB": 2**40,
    "TB": 10**12,
}
_RESTART_OPTIONS = ("backoff", "backoff_max", "max_restarts", "within")


@dataclass(frozen=True)
class Site:
    """The procfile being run: finds the line of a builder call and formats errors."""

    file: str

    def line(self) -> int:
        """Return the line of the innermost frame running the procfile, or 0 outside one."""
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == self.file:
                return frame.f_lineno
            frame = frame.f_back
        return 0

    def error(self, line: int, message: str) -> ProcfileError:
        """Build the error for ``message`` at ``line`` (0: line unknown)."""
        where = f"{self.file}:{line}" if line else self.file
        return ProcfileError(f"{where}: {message}")

    def here(self, message: str) -> ProcfileError:
        """Build the error for ``message`` at the builder call being made."""
        return self.error(self.line(), message)


def check_name(site: Site, kind: str, name: object) -> str:
    """Return ``name`` if it is a valid process or service name.

    :raises ProcfileError: at the builder call being made, saying which characters are allowed.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise site.here(
            f"bad {kind} name {name!r}: use letters, digits, '_', '.', '-', not starting with "
            "a digit, '.' or '-'"
        )
    return name


def _parse_size(size: object) -> int:
    """Return a memory size in bytes.

    :raises ValueError: if the size is not a positive int or a size string.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        value = size
    elif isinstance(size, str) and (match := _SIZE.fullmatch(size)):
        unit = _UNITS.get(match.group(2).upper())
        if unit is None:
            raise ValueError(f"unknown unit {match.group(2)!r}")
        value = int(Decimal(match.group(1)) * unit)
    else:
        raise ValueError("not a size")
    if value < 1:
        raise ValueError("must be at least 1 byte")
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_policy(policy: RestartPolicy) -> str | None:
    """Return what is wrong with a restart policy, or None."""
    if not all(_is_number(v) for v in (policy.backoff, policy.backoff_max, policy.within)):
        return "backoff, backoff_max and within must be numbers of seconds"
    if not isinstance(policy.max_restarts, int) or isinstance(policy.max_restarts, bool):
        return "max_restarts must be an int"
    if policy.backoff < 0 or policy.max_restarts < 0 or policy.within <= 0:
        return "backoff and max_restarts must be >= 0 and within > 0"
    if policy.backoff_max < policy.backoff:
        return f"backoff_max ({policy.backoff_max}) is below backoff ({policy.backoff})"
    return None


class ProcessBuilder:
    """Declares one process, from ``app.process(name)``; every method returns the builder."""

    def __init__(self, site: Site, name: str, line: int) -> None:
        self._site = site
        self._spec = ProcessSpec(name=name, line=line)

    @property
    def name(self) -> str:
        """The process name."""
        return self._spec.name

    def _fail(self, message: str) -> ProcfileError:
        return self._site.here(f"process {self.name!r}: {message}")

    def scale(self, n: int) -> ProcessBuilder:
        """Run ``n`` instances of the process (default 1).

        :param n: the instance count, at least 1.
        :raises ProcfileError: if ``n`` is not an int >= 1.
        :return: this builder.
        """
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise self._fail(f"scale must be an int >= 1, got {n!r}")
        self._spec = replace(self._spec, scale=n)
        return self

    def env(self, mapping: Mapping[str, str]) -> ProcessBuilder:
        """Add environment variables for the process; later calls add to earlier ones.

        :param mapping: variable names to string values.
        :raises ProcfileError: if a name or value is not a str.
        :return: this builder.
        """
        if not isinstance(mapping, Mapping):
            raise self._fail(f"env takes a mapping of str to str, got {type(mapping).__name__}")
        for key, value in mapping.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise self._fail(f"env must map str to str, got {key!r}: {value!r}")
        self._spec = replace(self._spec, env={**self._spec.env, **mapping})
        return self

    def python_args(self, args: Sequence[str]) -> ProcessBuilder:
        """Set the interpreter options the process starts with, such as ``["-X", "dev"]``.

        :param args: the options; replaces those of an earlier call.
        :raises ProcfileError: if ``args`` is a str or holds anything but str.
        :return: this builder.
        """
        if isinstance(args, str) or not all(isinstance(a, str) for a in args):
            raise self._fail(f"python_args takes a list of str, got {args!r}")
        self._spec = replace(self._spec, python_args=tuple(args))
        return self

    def memory_limit(self, size: int | str) -> ProcessBuilder:
        """Restart an instance whose resident memory exceeds ``size`` (default: no limit).

        :param size: bytes as an int, or a string: ``"512MiB"``, ``"64M"``, ``"2G"`` (1024-based)
            or ``"100MB"``, ``"1GB"`` (1000-based).
        :raises ProcfileError: if the size is not a positive int or a size string.
        :return: this builder.
        """
        try:
            limit = _parse_size(size)
        except ValueError as exc:
            raise self._fail(
                f"bad memory size {size!r} ({exc}): use bytes or a number with KiB, MiB, GiB "
                "(K, M, G are 1024-based too) or KB, MB, GB (1000-based)"
            ) from exc
        self._spec = replace(self._spec, memory_limit=limit)
        return self

    def restart(
        self,
        *,
        backoff: float | None = None,
        backoff_max: float | None = None,
        max_restarts: int | None = None,
        within: float | None = None,
        **unknown: object,
    ) -> ProcessBuilder:
        """Change the restart policy; options not given keep their value (see RestartPolicy).

        :param backoff: seconds before the first restart, doubled each consecutive restart.
        :param backoff_max: the longest wait between restarts.
        :param max_restarts: restarts allowed within ``within`` seconds before giving up.
        :param within: the crash-loop window in seconds.
        :raises ProcfileError: on an unknown option or a bad value.
        :return: this builder.
        """
        if unknown:
            raise self._fail(
                f"unknown restart option {sorted(unknown)[0]!r}: use {', '.join(_RESTART_OPTIONS)}"
            )
        values = (backoff, backoff_max, max_restarts, within)
        given: dict[str, Any] = dict(zip(_RESTART_OPTIONS, values, strict=True))
        policy = replace(self._spec.restart, **{k: v for k, v in given.items() if v is not None})
        if problem := _check_policy(policy):
            raise self._fail(f"restart: {problem}")
        self._spec = replace(self._spec, restart=policy)
        return self

    def build(self) -> ProcessSpec:
        """Return the process's spec record.

        :return: the spec as declared so far.
        """
        return self._spec


class ServiceBuilder:
    """Declares one service, from ``app.service(name, import_path)``; methods return the builder."""

    def __init__(self, site: Site, name: str, import_path: str, line: int) -> None:
        self._site = site
        self.name = name
        self.import_path = import_path
        self.line = line
        self.process_name = DEFAULT_PROCESS
        self.process_line = line
        self.values: dict[str, Any] = {}
        self.publish_as: str | None = None
        self.publish_line = 0
        self.dependencies: dict[str, int] = {}  # name -> line of the depends_on call

    def _fail(self, message: str) -> ProcfileError:
        return self._site.here(f"service {self.name!r}: {message}")

    def process(self, name: str) -> ServiceBuilder:
        """Run the service in process ``name`` (default ``"background"``), declared or not.

        :param name: the process name.
        :raises ProcfileError: if the name is not a valid process name.
        :return: this builder.
        """
        self.process_name = check_name(self._site, "process", name)
        self.process_line = self._site.line()
        return self

    def config(self, **values: Any) -> ServiceBuilder:
        """Add config values, passed to the service as ``ctx.config``; later calls add to these.

        :param values: JSON-serialisable values (stored as their JSON round trip, so a tuple
            becomes a list).
        :raises ProcfileError: naming the key whose value is not JSON-serialisable.
        :return: this builder.
        """
        for key, value in values.items():
            try:
                self.values[key] = json.loads(json.dumps(value, allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise self._fail(f"config {key!r} is not JSON-serialisable: {exc}") from exc
        return self

    def publish(self, name: str | None = None) -> ServiceBuilder:
        """Publish the service object on the hub, under ``name`` or else the service name.

        :param name: the name other processes look it up by.
        :raises ProcfileError: if the name is not a non-empty str.
        :return: this builder.
        """
        publish_as = self.name if name is None else name
        if not isinstance(publish_as, str) or not publish_as:
            raise self._fail(f"publish name must be a non-empty str, got {name!r}")
        self.publish_as = publish_as
        self.publish_line = self._site.line()
        return self

    def depends_on(self, *names: str) -> ServiceBuilder:
        """Start this service only after the named services have started, in any process.

        :param names: service names, declared anywhere in the procfile.
        :raises ProcfileError: if a name is not a str (unknown names fail at the end of the load).
        :return: this builder.
        """
        line = self._site.line()
        for name in names:
            if not isinstance(name, str):
                raise self._fail(f"depends_on takes service names, got {name!r}")
            self.dependencies.setdefault(name, line)
        return self

    def build(self) -> ServiceSpec:
        """Return the service's spec record.

        :return: the spec as declared so far.
        """
        return ServiceSpec(
            name=self.name,
            import_path=self.import_path,
            process=self.process_name,
            config=dict(self.values),
            publish_as=self.publish_as,
            depends_on=tuple(self.dependencies),
            line=self.line,
        )
