"""What an app checks in the commands it is given: a control command's target, and the
services a test replaces with doubles. Pure functions of the spec; a bad name raises with the
names there are."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hubcore._errors import HubError
from hubcore.app._spec import AppSpec

__all__ = ("control_target", "replace_services")


def control_target(spec: AppSpec, args: dict[str, Any]) -> tuple[str, int | None]:
    """The process (and instance) a control command names, checked against ``spec``.

    :raises HubError: no such process or instance; the message lists those there are.
    """
    process, instance = args.get("process"), args.get("instance")
    known = spec.processes
    if not isinstance(process, str) or process not in known:
        raise HubError(f"no process {process!r} in the app; processes: {', '.join(known)}")
    scale = known[process].scale
    if instance is not None and (
        isinstance(instance, bool) or not isinstance(instance, int) or not 0 <= instance < scale
    ):
        raise HubError(
            f"no instance {instance!r} of process {process!r}; its instances: "
            f"{', '.join(f'{process}.{i}' for i in range(scale))}"
        )
    return process, instance


def replace_services(spec: AppSpec, replace: Mapping[str, str]) -> AppSpec:
    """``spec`` with the import paths of some services replaced (``{service: "module:Class"}``).

    :raises HubError: a service to replace is not in the spec.
    """
    unknown = set(replace) - set(spec.services)
    if unknown:
        raise HubError(
            f"cannot replace {', '.join(sorted(unknown))}: no such service in {spec.path} "
            f"(services: {', '.join(spec.services)})"
        )
    services = {
        name: dataclasses.replace(svc, import_path=replace.get(name, svc.import_path))
        for name, svc in spec.services.items()
    }
    return dataclasses.replace(spec, services=services)
