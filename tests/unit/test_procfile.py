"""Procfile builder, loader and spec records. No processes, no sleeps."""

from __future__ import annotations

import ast
import json
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubcore._errors import HubError, ProcfileError
from hubcore.app._procfile import ProcfileBuilder, load_procfile
from hubcore.app._spec import (
    DEFAULT_PROCESS,
    AppSpec,
    ProcessSpec,
    RestartPolicy,
    ServiceSpec,
    find_cycle,
)

FIXTURES = Path(__file__).parent / "procfiles"
MARK = "# <-"


class Procfile:
    """A procfile written into a temporary folder, beside a copy of the fixture services."""

    def __init__(self, folder: Path, body: str) -> None:
        shutil.copytree(FIXTURES / "services", folder / "services", dirs_exist_ok=True)
        shutil.copytree(FIXTURES / "tripwire", folder / "tripwire", dirs_exist_ok=True)
        self.path = folder / "procfile.py"
        source = "def procfile(app):\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        self.path.write_text(source + "\n")

    @property
    def line(self) -> int:
        """The line marked with ``# <-``."""
        lines = self.path.read_text().splitlines()
        return next(n for n, text in enumerate(lines, start=1) if MARK in text)

    def load(self) -> AppSpec:
        return load_procfile(self.path)

    def error(self) -> str:
        """Load, expecting a ProcfileError; check it names this file and the marked line."""
        with pytest.raises(ProcfileError) as info:
            self.load()
        message = str(info.value)
        assert message.startswith(f"{self.path}:{self.line}: "), message
        return message


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Procfile]:
    return lambda body: Procfile(tmp_path, body)


@pytest.fixture
def app(tmp_path: Path) -> ProcfileBuilder:
    (tmp_path / "procfile.py").write_text("")
    shutil.copytree(FIXTURES / "services", tmp_path / "services")
    return ProcfileBuilder(tmp_path / "procfile.py")


def fake_ports(*ports: int) -> Callable[[], int]:
    it: Iterator[int] = iter(ports)
    return lambda: next(it)


# -- builder API ------------------------------------------------------------------------------


def test_builder_process_returns_same_builder(app: ProcfileBuilder) -> None:
    assert app.process("worker") is app.process("worker")


def test_builder_process_methods_chain_into_spec(app: ProcfileBuilder) -> None:
    app.process("worker").scale(3).env({"A": "1"}).env({"B": "2"}).python_args(
        ["-X", "dev"]
    ).memory_limit("64M").restart(backoff=0.5, max_restarts=2)
    spec = app.build().processes["worker"]
    assert spec == ProcessSpec(
        name="worker",
        scale=3,
        env={"A": "1", "B": "2"},
        python_args=("-X", "dev"),
        memory_limit=64 * 2**20,
        restart=RestartPolicy(backoff=0.5, backoff_max=5.0, max_restarts=2, within=30.0),
    )


def test_builder_process_defaults(app: ProcfileBuilder) -> None:
    app.process("idle")
    spec = app.build()
    assert spec.processes == {"idle": ProcessSpec(name="idle")}
    assert spec.services_in("idle") == []


def test_builder_restart_keeps_options_not_given(app: ProcfileBuilder) -> None:
    app.process("p").restart(within=60).restart(backoff_max=9)
    assert app.build().processes["p"].restart == RestartPolicy(within=60, backoff_max=9)


def test_builder_service_defaults_to_background(app: ProcfileBuilder) -> None:
    app.service("web", "services.web:Web")
    spec = app.build()
    assert spec.services["web"] == ServiceSpec(name="web", import_path="services.web:Web")
    assert spec.services["web"].process == DEFAULT_PROCESS == "background"
    assert spec.processes == {"background": ProcessSpec(name="background")}


def test_builder_service_process_is_created_implicitly(app: ProcfileBuilder) -> None:
    app.service("web", "services.web:Web").process("worker")
    spec = app.build()
    assert list(spec.processes) == ["worker"]
    assert spec.services_in("worker") == [spec.services["web"]]


def test_builder_service_settings_chain_into_spec(app: ProcfileBuilder) -> None:
    app.service("a", "services.web:Web")
    app.service("web", "services.web:Web").config(port=1, hosts=("x", "y")).config(
        debug=True
    ).publish("api").depends_on("a")
    web = app.build().services["web"]
    assert web.config == {"port": 1, "hosts": ["x", "y"], "debug": True}
    assert web.publish_as == "api"
    assert web.depends_on == ("a",)


def test_builder_publish_defaults_to_service_name(app: ProcfileBuilder) -> None:
    app.service("web", "services.web:Web").publish()
    app.service("quiet", "services.web:Web")
    spec = app.build()
    assert spec.services["web"].publish_as == "web"
    assert spec.services["quiet"].publish_as is None


def test_builder_root_is_procfile_folder(app: ProcfileBuilder, tmp_path: Path) -> None:
    assert app.root == tmp_path


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("512MiB", 512 * 2**20),
        ("1GiB", 2**30),
        ("100MB", 100 * 10**6),
        ("64M", 64 * 2**20),
        ("2G", 2 * 2**30),
        ("8KiB", 8 * 1024),
        ("8K", 8 * 1024),
        ("8KB", 8000),
        ("3GB", 3 * 10**9),
        ("1.5GiB", 3 * 2**29),
        (" 256 mib ", 256 * 2**20),
        ("4096", 4096),
        ("4096B", 4096),
        (4096, 4096),
    ],
)
def test_builder_memory_limit_parses_sizes(
    app: ProcfileBuilder, size: int | str, expected: int
) -> None:
    app.process("p").memory_limit(size)
    assert app.build().processes["p"].memory_limit == expected


def test_builder_free_port_never_repeats(tmp_path: Path) -> None:
    app = ProcfileBuilder(tmp_path / "procfile.py", port_source=fake_ports(5000, 5000, 5001))
    assert [app.free_port(), app.free_port()] == [5000, 5001]
    assert app.build().ports == (5000, 5001)


def test_builder_free_port_gives_up_without_new_port(tmp_path: Path) -> None:
    app = ProcfileBuilder(tmp_path / "procfile.py", port_source=lambda: 5000)
    app.free_port()
    with pytest.raises(ProcfileError, match="no new free port"):
        app.free_port()


def test_builder_free_port_binds_distinct_loopback_ports(write: Callable[[str], Procfile]) -> None:
    spec = write(
        "for n in range(5):\n    app.service(f's{n}', 'json:loads').config(port=app.free_port())"
    ).load()
    ports = [s.config["port"] for s in spec.services.values()]
    assert len(set(ports)) == 5
    assert spec.ports == tuple(ports)
    assert all(0 < p < 65536 for p in ports)


# -- load_procfile ----------------------------------------------------------------------------


def test_load_procfile_design_example() -> None:
    spec = load_procfile(FIXTURES / "procfile.py")
    assert spec.path == (FIXTURES / "procfile.py").resolve()
    assert spec.root == FIXTURES.resolve()
    assert list(spec.processes) == ["background", "worker"]
    assert spec.processes["background"].memory_limit == 512 * 2**20
    assert spec.processes["background"].line == 3
    snapshot, web = spec.services["page_snapshot"], spec.services["web"]
    assert (snapshot.process, snapshot.publish_as, snapshot.line) == (
        "background",
        "page_snapshot",
        4,
    )
    assert (web.process, web.publish_as, web.line) == ("worker", None, 5)
    assert spec.ports == (web.config["port"],)
    assert spec.processes["worker"].line == 5


def test_load_procfile_accepts_folder() -> None:
    assert load_procfile(FIXTURES).path == (FIXTURES / "procfile.py").resolve()


def test_load_procfile_imports_no_service_module(write: Callable[[str], Procfile]) -> None:
    """The tripwire package raises when imported; loading must only locate and parse it."""
    before = set(sys.modules)
    spec = write(
        "app.service('svc', 'tripwire.svc:Svc')\napp.service('web', 'services.web:Web')"
    ).load()
    assert list(spec.services) == ["svc", "web"]
    assert not {"tripwire", "tripwire.svc", "services", "services.web"} & (
        set(sys.modules) - before
    )


def test_load_procfile_restores_sys_path(write: Callable[[str], Procfile]) -> None:
    before = sys.path[:]
    write("app.service('web', 'services.web:Web')").load()
    assert sys.path == before


@pytest.mark.parametrize(
    "attr", ["Web", "make_web", "made", "ALIAS", "encode", "tomllib", "count", "Conditional"]
)
def test_load_procfile_finds_top_level_names(write: Callable[[str], Procfile], attr: str) -> None:
    spec = write(f"app.service('web', 'services.web:{attr}')").load()
    assert spec.services == {"web": ServiceSpec("web", f"services.web:{attr}", line=2)}


def test_load_procfile_accepts_package_submodule(write: Callable[[str], Procfile]) -> None:
    spec = write("app.service('web', 'services:web')").load()
    assert spec.services == {"web": ServiceSpec("web", "services:web", line=2)}


def test_load_procfile_accepts_installed_and_builtin_modules(
    write: Callable[[str], Procfile],
) -> None:
    spec = write(
        "app.service('a', 'json.decoder:JSONDecoder')\napp.service('b', 'sys:path')"
    ).load()
    assert spec.services == {
        "a": ServiceSpec("a", "json.decoder:JSONDecoder", line=2),
        "b": ServiceSpec("b", "sys:path", line=3),
    }


# -- load errors: each names the procfile and the line of the offending call ----------------


def test_load_procfile_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProcfileError) as info:
        load_procfile(tmp_path / "nope.py")
    assert str(info.value) == (
        f"no procfile at {tmp_path / 'nope.py'}: create one (see docs/procfile.md) or pass its path"
    )
    assert isinstance(info.value, HubError)


def test_load_procfile_without_procfile_function(tmp_path: Path) -> None:
    (tmp_path / "procfile.py").write_text("procfile = 3\n")
    with pytest.raises(ProcfileError, match=r"procfile\.py: defines no procfile\(app\) function"):
        load_procfile(tmp_path / "procfile.py")


def test_load_procfile_user_exception_is_wrapped(write: Callable[[str], Procfile]) -> None:
    procfile = write("app.process('p')\n{}['missing']  # <-")
    with pytest.raises(ProcfileError) as info:
        procfile.load()
    assert str(info.value) == f"{procfile.path}:{procfile.line}: KeyError: 'missing'"
    assert isinstance(info.value.__cause__, KeyError)


def test_load_procfile_module_level_exception_is_wrapped(tmp_path: Path) -> None:
    (tmp_path / "procfile.py").write_text("import os\nraise OSError('boom')\n")
    with pytest.raises(ProcfileError, match=r"procfile\.py:2: OSError: boom"):
        load_procfile(tmp_path / "procfile.py")


def test_load_procfile_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "procfile.py").write_text("def procfile(app):\n    app.process(\n")
    with pytest.raises(ProcfileError, match=r"procfile\.py:2: SyntaxError"):
        load_procfile(tmp_path / "procfile.py")


def test_load_procfile_duplicate_service(write: Callable[[str], Procfile]) -> None:
    message = write(
        """
        app.service('web', 'services.web:Web')
        app.service('web', 'services.web:Web')  # <-
        """
    ).error()
    assert message.endswith("service 'web' is already declared (line 2)")


def test_load_procfile_duplicate_publish_name(write: Callable[[str], Procfile]) -> None:
    message = write(
        """
        app.service('a', 'services.web:Web').publish('api')
        app.service('b', 'services.web:Web')
        app.service('c', 'services.web:Web').publish('api')  # <-
        """
    ).error()
    assert "publish name 'api' is already used by service 'a' (line 2)" in message


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_load_procfile_scale_below_one(write: Callable[[str], Procfile], n: object) -> None:
    message = write(f"app.process('worker').scale({n!r})  # <-").error()
    assert f"process 'worker': scale must be an int >= 1, got {n!r}" in message


@pytest.mark.parametrize(
    "size", ["'512 potatoes'", "'MiB'", "'-1GiB'", "'0'", "0", "None", "'1e9'"]
)
def test_load_procfile_bad_memory_size(write: Callable[[str], Procfile], size: str) -> None:
    message = write(f"app.process('worker').memory_limit({size})  # <-").error()
    assert f"process 'worker': bad memory size {ast.literal_eval(size)!r}" in message


def test_load_procfile_depends_on_unknown_service(write: Callable[[str], Procfile]) -> None:
    message = write(
        """
        (
            app.service('web', 'services.web:Web')
            .publish()
            .depends_on('db')  # <-
        )
        """
    ).error()
    assert "service 'web': depends_on unknown service 'db' (services: web)" in message


def test_load_procfile_dependency_cycle(write: Callable[[str], Procfile]) -> None:
    message = write(
        """
        app.service('a', 'services.web:Web').depends_on('b')  # <-
        app.service('b', 'services.web:Web').depends_on('c')
        app.service('c', 'services.web:Web').depends_on('a')
        """
    ).error()
    assert message.endswith("dependency cycle: a -> b -> c -> a")


def test_load_procfile_self_dependency(write: Callable[[str], Procfile]) -> None:
    message = write("app.service('a', 'services.web:Web').depends_on('a')  # <-").error()
    assert message.endswith("dependency cycle: a -> a")


@pytest.mark.parametrize(
    "import_path", ["services.web.Web", "services.web:", ":Web", "a:b:c", "services-web:Web"]
)
def test_load_procfile_malformed_import_path(
    write: Callable[[str], Procfile], import_path: str
) -> None:
    message = write(f"app.service('web', {import_path!r})  # <-").error()
    assert f"service 'web': import path {import_path!r} is not of the form" in message


@pytest.mark.parametrize("module", ["services.nope", "nope_no_such_module", "services.web.sub"])
def test_load_procfile_module_not_found(write: Callable[[str], Procfile], module: str) -> None:
    message = write(f"app.service('web', '{module}:Web')  # <-").error()
    assert f"service 'web': cannot find module {module!r}" in message


def test_load_procfile_missing_attribute(write: Callable[[str], Procfile]) -> None:
    procfile = write(
        """
        app.process('worker')
        app.service('web', 'services.web:Nope').process('worker')  # <-
        """
    )
    message = procfile.error()
    assert message == f"{procfile.path}:3: service 'web': services.web has no attribute 'Nope'"


def test_load_procfile_unknown_restart_option(write: Callable[[str], Procfile]) -> None:
    message = write("app.process('p').restart(backof=1)  # <-").error()
    assert "process 'p': unknown restart option 'backof'" in message


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ("backoff=-1", ">= 0"),
        ("backoff=10, backoff_max=1", "below backoff"),
        ("max_restarts=1.5", "must be an int"),
        ("within='1m'", "numbers of seconds"),
    ],
)
def test_load_procfile_bad_restart_value(
    write: Callable[[str], Procfile], options: str, problem: str
) -> None:
    assert problem in write(f"app.process('p').restart({options})  # <-").error()


def test_load_procfile_config_not_json(write: Callable[[str], Procfile]) -> None:
    message = write(
        "app.service('web', 'services.web:Web').config(ok=1, when={1, 2})  # <-"
    ).error()
    assert "service 'web': config 'when' is not JSON-serialisable" in message


@pytest.mark.parametrize(
    ("call", "name"),
    [("app.process('a/b')", "'a/b'"), ("app.service('w', 'x:Y').process('')", "''")],
)
def test_load_procfile_bad_process_name(
    write: Callable[[str], Procfile], call: str, name: str
) -> None:
    assert (
        write(f"{call}  # <-")
        .error()
        .endswith(
            f"bad process name {name}: use letters, digits, '_', '.', '-', not starting with a "
            "digit, '.' or '-'"
        )
    )


@pytest.mark.parametrize(
    ("call", "problem"),
    [
        ("app.process('p').env({'A': 1})", "process 'p': env must map str to str, got 'A': 1"),
        ("app.process('p').env(['A'])", "process 'p': env takes a mapping of str to str, got list"),
        (
            "app.process('p').python_args('-X dev')",
            "process 'p': python_args takes a list of str, got '-X dev'",
        ),
        (
            "app.service('w', 'x:Y').publish('')",
            "service 'w': publish name must be a non-empty str, got ''",
        ),
        (
            "app.service('w', 'x:Y').depends_on(['a'])",
            "service 'w': depends_on takes service names, got ['a']",
        ),
    ],
)
def test_load_procfile_bad_argument_types(
    write: Callable[[str], Procfile], call: str, problem: str
) -> None:
    assert write(f"{call}  # <-").error().endswith(problem)


# -- AppSpec ----------------------------------------------------------------------------------


def _spec(*services: ServiceSpec) -> AppSpec:
    processes = {s.process: ProcessSpec(name=s.process) for s in services}
    return AppSpec(Path("/x/procfile.py"), processes, {s.name: s for s in services})


def test_start_order_puts_dependencies_first() -> None:
    spec = _spec(
        ServiceSpec("web", "m:A", depends_on=("db", "cache")),
        ServiceSpec("other", "m:A"),
        ServiceSpec("cache", "m:A", depends_on=("db",)),
        ServiceSpec("db", "m:A"),
    )
    assert [s.name for s in spec.start_order("background")] == ["db", "cache", "web", "other"]


def test_start_order_leaves_out_other_processes() -> None:
    """web (p1) needs api (p2), which needs db (p1): db still starts before web in p1."""
    spec = _spec(
        ServiceSpec("web", "m:A", process="p1", depends_on=("api",)),
        ServiceSpec("api", "m:A", process="p2", depends_on=("db",)),
        ServiceSpec("db", "m:A", process="p1"),
    )
    assert [s.name for s in spec.start_order("p1")] == ["db", "web"]
    assert [s.name for s in spec.start_order("p2")] == ["api"]
    assert spec.start_order("nope") == []


def test_services_in_keeps_declaration_order() -> None:
    spec = _spec(
        ServiceSpec("b", "m:A", depends_on=("a",)),
        ServiceSpec("x", "m:A", process="p"),
        ServiceSpec("a", "m:A"),
    )
    assert [s.name for s in spec.services_in("background")] == ["b", "a"]


def test_app_spec_json_round_trip() -> None:
    spec = load_procfile(FIXTURES / "procfile.py")
    data = json.loads(json.dumps(spec.to_dict()))
    assert AppSpec.from_dict(data) == spec
    assert data["version"] == 1


def test_app_spec_round_trip_keeps_every_field(app: ProcfileBuilder) -> None:
    app.process("w").scale(2).env({"A": "b"}).python_args(["-O"]).memory_limit(10).restart(within=5)
    app.service("a", "services.web:Web").process("w").config(n={"k": [1, None]}).publish("x")
    app.service("b", "services.web:Web").depends_on("a")
    spec = app.build()
    rebuilt = AppSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert rebuilt == spec
    assert rebuilt.processes["w"].python_args == ("-O",)
    assert rebuilt.services["b"].depends_on == ("a",)


def test_app_spec_from_dict_ignores_unknown_keys() -> None:
    data = _spec(ServiceSpec("a", "m:A")).to_dict()
    data["future"] = 1
    data["services"]["a"]["future"] = 2
    data["processes"]["background"]["restart"]["future"] = 3
    assert AppSpec.from_dict(data) == _spec(ServiceSpec("a", "m:A"))


def test_app_spec_from_dict_gives_defaults_for_the_fields_it_lacks() -> None:
    """A spec written with fewer fields (an older hubcore) rebuilds with the defaults."""
    data = {
        "path": "/x/procfile.py",
        "processes": {"background": {"name": "background"}},
        "services": {"a": {"name": "a", "import_path": "m:A"}},
    }
    rebuilt = AppSpec.from_dict(data)
    assert rebuilt == _spec(ServiceSpec("a", "m:A"))
    assert rebuilt.processes["background"].restart == RestartPolicy()
    assert rebuilt.ports == ()


def test_find_cycle_follows_dependencies_that_declare_none_of_their_own() -> None:
    assert find_cycle({"a": ["b"], "c": ["a"]}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]


def test_app_spec_from_dict_rejects_malformed_data() -> None:
    with pytest.raises(ProcfileError, match="malformed app spec"):
        AppSpec.from_dict({"path": "/x", "processes": [], "services": {}})
