"""Procfile loading: run the file, hand its ``procfile(app)`` a builder, check the whole app.

This module spawns nothing; ``_supervisor`` and ``_app`` act on the records it returns.

How loading works:

1. :func:`load_procfile` executes the procfile as a module and calls its ``procfile(app)`` with a
   :class:`ProcfileBuilder`. Each builder call remembers the procfile line it came from, found by
   walking the stack to the innermost frame whose file is the procfile
   (:class:`~hubcore.app._builders.Site`).
2. Checks that need only the call itself (a bad size, ``scale < 1``, a duplicate service) raise
   at once, in the builders (:mod:`hubcore.app._builders`). Checks that need the whole app
   (unknown dependency, cycle, duplicate publish name, import paths) run in
   :meth:`ProcfileBuilder.build`, once ``procfile(app)`` has returned.
3. Every failure is a :class:`ProcfileError` whose message starts with ``file:line:``.

Import paths are resolved without executing the service module or its parent packages: the
module is located on the file system and its source is parsed with :mod:`ast`.
"""

from __future__ import annotations

import itertools
import os
import runpy
import socket
import traceback
from collections.abc import Callable
from pathlib import Path

from hubcore._errors import ProcfileError, describe
from hubcore.app._builders import ProcessBuilder, ServiceBuilder, Site, check_name
from hubcore.app._importcheck import front_of_sys_path, import_problem, valid_import_path
from hubcore.app._spec import AppSpec, ProcessSpec, find_cycle

__all__ = ("ProcfileBuilder", "load_procfile")

_FREE_PORT_ATTEMPTS = 64
_load_numbers = itertools.count()


def _bind_free_port() -> int:
    """Ask the kernel for a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ProcfileBuilder:
    """The ``app`` that a procfile's ``procfile(app)`` receives: declares processes and services."""

    def __init__(
        self, path: str | os.PathLike[str], *, port_source: Callable[[], int] = _bind_free_port
    ) -> None:
        """Start an empty app.

        :param path: the procfile's path; builder calls made from this file record their line.
        :param port_source: returns a free port; a seam for tests.
        """
        self._path = Path(path)
        self._site = Site(os.fspath(path))
        self._port_source = port_source
        self._processes: dict[str, ProcessBuilder] = {}
        self._services: dict[str, ServiceBuilder] = {}
        self._ports: list[int] = []

    @property
    def root(self) -> Path:
        """The procfile's folder, from which service import paths resolve."""
        return self._path.parent

    def process(self, name: str) -> ProcessBuilder:
        """Declare process ``name``, or return its builder if already declared.

        :param name: the process name.
        :raises ProcfileError: if the name is not a valid process name.
        :return: the process's builder.
        """
        if name not in self._processes:
            check_name(self._site, "process", name)
            self._processes[name] = ProcessBuilder(self._site, name, self._site.line())
        return self._processes[name]

    def service(self, name: str, import_path: str) -> ServiceBuilder:
        """Declare service ``name``, an instance of the class at ``import_path``.

        :param name: the service name, unique in the procfile.
        :param import_path: ``"module.path:Attr"``, the module relative to the procfile's folder.
        :raises ProcfileError: on a duplicate name or a malformed import path.
        :return: the service's builder.
        """
        check_name(self._site, "service", name)
        if name in self._services:
            first = self._services[name].line
            raise self._site.here(f"service {name!r} is already declared (line {first})")
        if not valid_import_path(import_path):
            raise self._site.here(
                f"service {name!r}: import path {import_path!r} is not of the form "
                "'module.path:Attr'"
            )
        builder = ServiceBuilder(self._site, name, import_path, self._site.line())
        self._services[name] = builder
        return builder

    def free_port(self) -> int:
        """Pick a free TCP port on 127.0.0.1, different from the others picked for this app.

        :raises ProcfileError: if no new port turns up.
        :return: the port, also recorded in ``AppSpec.ports``.
        """
        for _ in range(_FREE_PORT_ATTEMPTS):
            port = self._port_source()
            if port not in self._ports:
                self._ports.append(port)
                return port
        raise self._site.here(f"free_port: no new free port after {_FREE_PORT_ATTEMPTS} tries")

    def build(self) -> AppSpec:
        """Check the whole app and return its spec.

        :raises ProcfileError: on a duplicate publish name, an unknown dependency, a dependency
            cycle, or an import path that does not resolve.
        :return: the app's spec.
        """
        self._check_publish_names()
        self._check_dependencies()
        for service in self._services.values():
            if problem := import_problem(self.root, service.import_path):
                raise self._site.error(service.line, f"service {service.name!r}: {problem}")
        return AppSpec(
            path=self._path,
            processes=self._process_specs(),
            services={name: s.build() for name, s in self._services.items()},
            ports=tuple(self._ports),
        )

    def _process_specs(self) -> dict[str, ProcessSpec]:
        """Specs of the declared processes, then of those only named by a service."""
        specs = {name: p.build() for name, p in self._processes.items()}
        for service in self._services.values():
            if service.process_name not in specs:
                specs[service.process_name] = ProcessSpec(
                    name=service.process_name, line=service.process_line
                )
        return specs

    def _check_publish_names(self) -> None:
        owners: dict[str, ServiceBuilder] = {}
        for service in self._services.values():
            if service.publish_as is None:
                continue
            owner = owners.setdefault(service.publish_as, service)
            if owner is not service:
                raise self._site.error(
                    service.publish_line,
                    f"service {service.name!r}: publish name {service.publish_as!r} is already "
                    f"used by service {owner.name!r} (line {owner.publish_line})",
                )

    def _check_dependencies(self) -> None:
        for service in self._services.values():
            for name, line in service.dependencies.items():
                if name not in self._services:
                    known = ", ".join(sorted(self._services))
                    raise self._site.error(
                        line,
                        f"service {service.name!r}: depends_on unknown service {name!r} "
                        f"(services: {known})",
                    )
        graph = {name: list(s.dependencies) for name, s in self._services.items()}
        if cycle := find_cycle(graph):
            first = self._services[cycle[0]]
            raise self._site.error(
                first.dependencies[cycle[1]], f"dependency cycle: {' -> '.join(cycle)}"
            )


def _procfile_path(path: str | os.PathLike[str]) -> Path:
    """Return the absolute procfile path (``procfile.py`` inside a folder) after checking it."""
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        file = file / "procfile.py"
    if not file.is_file():
        raise ProcfileError(
            f"no procfile at {file}: create one (see docs/procfile.md) or pass its path"
        )
    return file


def _wrap(file: Path, exc: Exception) -> ProcfileError:
    """Turn an exception raised by procfile code into a ProcfileError at the procfile's line."""
    line = 0
    if isinstance(exc, SyntaxError) and exc.filename == str(file):
        line = exc.lineno or 0
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(file):
            line = frame.lineno or 0
    where = f"{file}:{line}" if line else str(file)
    return ProcfileError(f"{where}: {describe(exc)}")


def _run_procfile(file: Path) -> Callable[[ProcfileBuilder], object]:
    """Execute the procfile module and return its ``procfile`` function."""
    try:
        namespace = runpy.run_path(str(file), run_name=f"_hubcore_procfile_{next(_load_numbers)}")
    except ProcfileError:
        raise
    except Exception as exc:
        raise _wrap(file, exc) from exc
    function = namespace.get("procfile")
    if not callable(function):
        raise ProcfileError(
            f"{file}: defines no procfile(app) function: add `def procfile(app):` declaring "
            "processes and services (see docs/procfile.md)"
        )
    return function  # type: ignore[no-any-return]


def load_procfile(path: str | os.PathLike[str]) -> AppSpec:
    """Load a procfile: run its ``procfile(app)`` function and check the app it declares.

    The procfile's folder is first on ``sys.path`` while it runs.

    :param path: the procfile, or a folder holding ``procfile.py``.
    :raises ProcfileError: if the file is missing, fails to run, or declares an invalid app;
        the message starts with ``file:line:``.
    :return: the app's spec.
    """
    file = _procfile_path(path)
    with front_of_sys_path(file.parent):
        function = _run_procfile(file)
        builder = ProcfileBuilder(file)
        try:
            function(builder)
        except ProcfileError:
            raise
        except Exception as exc:
            raise _wrap(file, exc) from exc
    return builder.build()
