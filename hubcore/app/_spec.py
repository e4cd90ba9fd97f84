"""The plain records a loaded procfile becomes: processes, services, the app, restart policy.

They hold no behaviour beyond ordering services, a JSON round trip (the supervisor writes the
spec to a file for its worker processes) and the restart arithmetic of :class:`RestartPolicy`,
which is pure: the caller keeps the history and passes the time in. ``_procfile`` builds
them; ``_supervisor``, ``_app`` and the worker read them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hubcore._errors import ProcfileError

__all__ = (
    "DEFAULT_PROCESS",
    "SPEC_VERSION",
    "AppSpec",
    "ProcessSpec",
    "RestartPlan",
    "RestartPolicy",
    "ServiceSpec",
    "find_cycle",
)

DEFAULT_PROCESS = "background"
SPEC_VERSION = 1


@dataclass(frozen=True)
class RestartPlan:
    """What one crash leads to under a :class:`RestartPolicy`.

    ``delay`` is the wait in seconds before the restart, or ``None`` for a crash loop: the
    process is not restarted. ``crashes`` counts the crashes within the window, this one
    included. ``history`` is what to pass to the next :meth:`RestartPolicy.plan` of the same
    process: the restarts still in the window, this one included if it restarts.
    """

    delay: float | None
    crashes: int
    history: tuple[float, ...]

    @property
    def gives_up(self) -> bool:
        """Whether the crash ends a crash loop (no restart)."""
        return self.delay is None


@dataclass(frozen=True)
class RestartPolicy:
    """How a crashed process is restarted.

    A restart that follows ``k`` others within the last ``within`` seconds waits
    ``min(backoff * 2**k, backoff_max)`` seconds; a crash that would need more than
    ``max_restarts`` restarts within ``within`` seconds marks the process failed (crash loop).
    """

    backoff: float = 0.1
    backoff_max: float = 5.0
    max_restarts: int = 5
    within: float = 30.0

    def delay(self, restarts: int) -> float:
        """Return the wait before a restart that follows ``restarts`` others in the window.

        :param restarts: the restarts within the last ``within`` seconds, 0 for the first.
        :return: ``min(backoff * 2**restarts, backoff_max)`` seconds.
        """
        # 2.0**n overflows past n = 1023, long after any backoff has reached backoff_max.
        return min(self.backoff * 2.0 ** min(restarts, 1023), self.backoff_max)

    def plan(self, history: Sequence[float], now: float) -> RestartPlan:
        """Decide what a crash at ``now`` leads to: a restart after a delay, or a crash loop.

        Pure: no clock, no I/O. The caller keeps :attr:`RestartPlan.history` for the next
        crash, and forgets it when the process is started afresh.

        :param history: :attr:`RestartPlan.history` of the previous crash, or ``()``.
        :param now: the time of the crash, in seconds on any monotonic clock.
        :return: the plan.
        """
        recent = tuple(t for t in history if t >= now - self.within)  # the window forgets
        crashes = len(recent) + 1
        if len(recent) >= self.max_restarts:
            return RestartPlan(delay=None, crashes=crashes, history=recent)
        return RestartPlan(self.delay(len(recent)), crashes, (*recent, now))


@dataclass(frozen=True)
class ServiceSpec:
    """One service: where its class lives, which process runs it, its config."""

    name: str
    import_path: str
    process: str = DEFAULT_PROCESS
    config: Mapping[str, Any] = field(default_factory=dict)
    publish_as: str | None = None
    depends_on: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class ProcessSpec:
    """One process: how many instances, its environment, limits and restart policy."""

    name: str
    scale: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    python_args: tuple[str, ...] = ()
    memory_limit: int | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    line: int = 0


@dataclass(frozen=True)
class AppSpec:
    """A loaded procfile: its processes and services, with ports already chosen."""

    path: Path
    processes: Mapping[str, ProcessSpec]
    services: Mapping[str, ServiceSpec]
    ports: tuple[int, ...] = ()

    @property
    def root(self) -> Path:
        """The procfile's folder, from which service import paths resolve."""
        return self.path.parent

    def services_in(self, process: str) -> list[ServiceSpec]:
        """List the services run by one process, in declaration order.

        :param process: the process name.
        :return: its services; empty for an unknown process or one without services.
        """
        return [s for s in self.services.values() if s.process == process]

    def start_order(self, process: str) -> list[ServiceSpec]:
        """List one process's services in the order to start them.

        Dependencies come before their dependents, otherwise declaration order holds. A
        dependency run by another process is not in the list: waiting for it is not done here.

        :param process: the process name.
        :return: the process's services, dependencies first.
        """
        ordered = (self.services[name] for name in _dependency_order(self.services))
        return [service for service in ordered if service.process == process]

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as plain JSON-ready data, for :meth:`from_dict` in another process.

        :return: a dict of str, int, float, bool, None, lists and dicts.
        """
        return {
            "version": SPEC_VERSION,
            "path": str(self.path),
            "processes": {name: _plain(asdict(p)) for name, p in self.processes.items()},
            "services": {name: _plain(asdict(s)) for name, s in self.services.items()},
            "ports": list(self.ports),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppSpec:
        """Rebuild a spec from :meth:`to_dict` output; unknown keys are ignored.

        :param data: the dict, possibly after a JSON round trip.
        :raises ProcfileError: if the data is not a spec.
        :return: the equal spec.
        """
        try:
            return cls(
                path=Path(data["path"]),
                processes={n: _process_from_dict(d) for n, d in data["processes"].items()},
                services={n: _service_from_dict(d) for n, d in data["services"].items()},
                ports=tuple(int(p) for p in data.get("ports", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProcfileError(f"malformed app spec: {exc!r}") from exc


def _plain(value: Any) -> Any:
    """Turn tuples into lists all the way down, so that ``to_dict`` output is plain JSON data."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _known(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the keys of ``data`` that are fields of the dataclass ``cls``."""
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


def _process_from_dict(data: Mapping[str, Any]) -> ProcessSpec:
    values = _known(ProcessSpec, data)
    values["env"] = dict(values.get("env", {}))
    values["python_args"] = tuple(values.get("python_args", ()))
    values["restart"] = RestartPolicy(**_known(RestartPolicy, values.get("restart", {})))
    return ProcessSpec(**values)


def _service_from_dict(data: Mapping[str, Any]) -> ServiceSpec:
    values = _known(ServiceSpec, data)
    values["config"] = dict(values.get("config", {}))
    values["depends_on"] = tuple(values.get("depends_on", ()))
    return ServiceSpec(**values)


def _dependency_order(services: Mapping[str, ServiceSpec]) -> list[str]:
    """Order service names depth first: each service's dependencies just before it."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        # Marking before visiting the dependencies keeps a cyclic spec from recursing forever.
        if name in seen or name not in services:
            return
        seen.add(name)
        for dependency in services[name].depends_on:
            visit(dependency)
        order.append(name)

    for name in services:
        visit(name)
    return order


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return the first dependency cycle found, as ``[a, b, a]``, or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        path.append(node)
        for dependency in graph.get(node, ()):
            if dependency in path:
                return [*path[path.index(dependency) :], dependency]
            if dependency not in done and (cycle := visit(dependency)):
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in graph:
        if node not in done and (cycle := visit(node)):
            return cycle
    return None
