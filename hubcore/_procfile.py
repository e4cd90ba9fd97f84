"""Procfile: the builder a ``procfile(app)`` function receives, and the plain spec records it yields.

This module spawns nothing; ``_supervisor`` and ``_app`` act on the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROCESS = "background"


@dataclass(frozen=True)
class RestartPolicy:
    """How a crashed process is restarted.

    The n-th consecutive restart waits ``min(backoff * 2**n, backoff_max)`` seconds; more than
    ``max_restarts`` restarts within ``within`` seconds marks the process failed (crash loop).
    """

    backoff: float = 0.1
    backoff_max: float = 5.0
    max_restarts: int = 5
    within: float = 30.0


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
