"""Where the plugin's settings come from: marker > command line > ini file > default.

A bad value is a usage error that says where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = (
    "DEFAULT_BOOT_TIMEOUT",
    "DEFAULT_CALL_TIMEOUT",
    "Settings",
    "allowed_crashes",
    "marker_procfile",
    "marker_timeout",
    "replacements",
)

DEFAULT_CALL_TIMEOUT = 10.0
DEFAULT_BOOT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Settings:
    """The session-wide settings."""

    procfile: Path | None
    call_timeout: float
    boot_timeout: float

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        """Read options and ini values.

        :raises pytest.UsageError: a value is not what it should be (names its source).
        """
        procfile = _pick(config, "hub_procfile")
        path: Path | None = None
        if procfile is not None and config.getoption("hub_procfile") is None:
            path = Path(config.rootpath, procfile)  # ini paths are relative to the rootdir
        elif procfile is not None:
            path = Path(procfile).absolute()
        return cls(
            procfile=path,
            call_timeout=_seconds(config, "hub_call_timeout", DEFAULT_CALL_TIMEOUT),
            boot_timeout=_seconds(config, "hub_boot_timeout", DEFAULT_BOOT_TIMEOUT),
        )


def _pick(config: pytest.Config, name: str) -> Any:
    value = config.getoption(name)
    if value is None:
        value = config.getini(name) or None
    return value


def _seconds(config: pytest.Config, name: str, default: float) -> float:
    option = config.getoption(name)
    source = f"--{name.replace('_', '-')}" if option is not None else f"ini option {name}"
    raw = option if option is not None else (config.getini(name) or None)
    if raw is None:
        return default
    return _positive(raw, source)


def _positive(raw: object, source: str) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise pytest.UsageError(f"{source}: expected seconds, got {raw!r}") from None
    if value <= 0:
        raise pytest.UsageError(f"{source}: expected a positive number of seconds, got {raw!r}")
    return value


def marker_timeout(item: pytest.Item) -> float | None:
    """The ``hub_timeout(seconds)`` of a test, if marked."""
    marker = item.get_closest_marker("hub_timeout")
    if marker is None:
        return None
    if len(marker.args) != 1:
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.hub_timeout(seconds)")
    return _positive(marker.args[0], f"{item.nodeid}: hub_timeout marker")


def marker_procfile(item: pytest.Item) -> Path | None:
    """The ``hub_procfile(path)`` of a test (relative to the test file's folder), if marked."""
    marker = item.get_closest_marker("hub_procfile")
    if marker is None:
        return None
    if len(marker.args) != 1:
        raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.hub_procfile(path)")
    return Path(item.path.parent, marker.args[0]).resolve()


def replacements(item: pytest.Item) -> dict[str, str]:
    """Service -> ``"module:Class"`` from every ``hub_replace`` marker of a test."""
    result: dict[str, str] = {}
    for marker in item.iter_markers("hub_replace"):
        if len(marker.args) != 2 or not all(isinstance(a, str) for a in marker.args):
            raise pytest.UsageError(
                f'{item.nodeid}: use @pytest.mark.hub_replace("service", "module:FakeClass")'
            )
        result.setdefault(marker.args[0], marker.args[1])
    return result


def allowed_crashes(item: pytest.Item) -> set[str]:
    """Process names a test expects to crash (``hub_allow_crash(process, ...)``)."""
    names: set[str] = set()
    for marker in item.iter_markers("hub_allow_crash"):
        names.update(str(a) for a in marker.args)
    return names
