"""Apps: procfiles, the supervisor that runs their processes, services, and :class:`App`.

Only :mod:`hubcore.app._app` and :mod:`hubcore.app._service` use the client
(:mod:`hubcore.client`); the procfile (``_procfile``, ``_builders``, ``_spec``,
``_importcheck``) and the supervisor (``_supervisor``, ``_runner``, ``_stop``, ``_output``,
``_records``, ``_proctree``) need nothing from the connection layers, so they can be read and
tested alone.

Names load on first use, so that importing one part (a worker reads only the spec) does not
import the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubcore.app._app import App
    from hubcore.app._procfile import load_procfile
    from hubcore.app._records import ProcessRecord, ProcessState
    from hubcore.app._service import Service, ServiceContext
    from hubcore.app._spec import AppSpec, ProcessSpec, RestartPlan, RestartPolicy, ServiceSpec
    from hubcore.app._supervisor import Supervisor

__all__ = (
    "App",
    "AppSpec",
    "ProcessRecord",
    "ProcessSpec",
    "ProcessState",
    "RestartPlan",
    "RestartPolicy",
    "Service",
    "ServiceContext",
    "ServiceSpec",
    "Supervisor",
    "load_procfile",
)

_WHERE = {
    "App": "_app",
    "AppSpec": "_spec",
    "ProcessRecord": "_records",
    "ProcessSpec": "_spec",
    "ProcessState": "_records",
    "RestartPlan": "_spec",
    "RestartPolicy": "_spec",
    "Service": "_service",
    "ServiceContext": "_service",
    "ServiceSpec": "_spec",
    "Supervisor": "_supervisor",
    "load_procfile": "_procfile",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
