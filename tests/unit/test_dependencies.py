"""pyproject.toml declares what the code imports, for each way of installing it, and only that.

The rule for eager, lazy and optional imports is in :mod:`tests.unit.dependencies`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.unit.dependencies import declared, imports_of, requirements, undeclared, unused

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"

#: Distributions hubcore may import lazily without declaring them, and why.
OPTIONAL = {
    "trio": "imported only inside a trio run (hubcore/client/_api.py): trio runs, so it is there",
}


#: Baselines ``python -m bench`` runs only when they are installed (their rows say so otherwise).
BENCH_OPTIONAL = {
    "Pyro5": "optional baseline: its row is skipped with a note when Pyro5 is not installed",
    "rpyc": "optional baseline: its row is skipped with a note when RPyC is not installed",
}


def _check(
    tree: str,
    allowed: set[str],
    where: str,
    optional: dict[str, str] | None = None,
    *,
    eager_optional: bool = False,
) -> None:
    problems = undeclared(ROOT, ROOT / tree, allowed, optional, eager_optional=eager_optional)
    hint = f"declare these in pyproject.toml's {where}"
    if optional is not None:
        hint += " (or, if optional, import them lazily and say why in OPTIONAL)"
    assert not problems, hint + ":\n" + "\n".join(problems)


def test_hubcore_imports_only_its_base_dependencies() -> None:
    """``pip install hubcore`` is enough to import and run every module of hubcore."""
    _check("hubcore", declared(PYPROJECT), "[project] dependencies", OPTIONAL)


def test_pytest_hub_imports_only_the_base_and_the_pytest_extra() -> None:
    _check("pytest_hub", declared(PYPROJECT, "pytest"), "pytest extra", OPTIONAL)


def test_the_example_imports_only_the_base_and_the_example_extra() -> None:
    """The README's ``pip install -e ".[example]"`` is enough to run the example."""
    _check("examples", declared(PYPROJECT, "example"), "example extra")


def test_tests_import_only_the_dev_extra() -> None:
    """The README's ``pip install -e ".[dev]"`` is enough to run the tests."""
    _check("tests", declared(PYPROJECT, "dev"), "dev extra")


def test_benchmarks_import_only_the_dev_and_bench_extras() -> None:
    """``pip install -e ".[dev,bench]"`` runs every row of ``python -m bench`` but the optional
    baselines, and the chart."""
    allowed = declared(PYPROJECT, "dev") | declared(PYPROJECT, "bench")
    _check("bench", allowed, "dev or bench extra", BENCH_OPTIONAL, eager_optional=True)


@pytest.mark.parametrize(
    ("extra", "trees"),
    [(None, ["hubcore"]), ("pytest", ["pytest_hub"]), ("example", ["examples"])],
)
def test_runtime_lists_declare_only_what_is_imported(extra: str | None, trees: list[str]) -> None:
    """Each of these lists is what its code imports: nothing more. (dev lists tools too.)"""
    base = declared(PYPROJECT)
    own = base if extra is None else declared(PYPROJECT, extra) - base
    extra_name = "[project] dependencies" if extra is None else f"the {extra} extra"
    assert unused(ROOT, [ROOT / t for t in trees], own) == set(), (
        f"nothing in {', '.join(trees)} imports these: remove them from {extra_name}"
    )


def test_uvloop_is_an_extra_and_never_a_requirement() -> None:
    assert "uvloop" not in declared(PYPROJECT)
    [uvloop] = [r for r in requirements(PYPROJECT, "uvloop") if r.name == "uvloop"]
    assert uvloop.marker is not None
    assert not uvloop.marker.evaluate({"sys_platform": "win32"}), "uvloop has no Windows wheels"
    assert "uvloop" in declared(PYPROJECT, "dev")


def test_every_requirement_has_a_lower_bound() -> None:
    """CI installs every direct dependency at its lower bound: each must have one."""
    every = requirements(PYPROJECT, "pytest", "uvloop", "example", "dev")
    assert [str(r) for r in every if not any(s.operator == ">=" for s in r.specifier)] == []


# --- the checker itself, on a tree made for it -----------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose package imports declared, undeclared, optional and local modules."""
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "toy"
            dependencies = ["pytest>=8"]
            [project.optional-dependencies]
            images = ["pillow>=10"]
            unused = ["hypothesis>=6"]
            all = ["toy[images]", "packaging>=23"]
            """
        )
    )
    package = tmp_path / "toy"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("import os\nimport pytest\nfrom toy import sub\n")
    (package / "sub" / "__init__.py").write_text("from . import helpers\nimport toy.sub\n")
    (package / "images.py").write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING

            import PIL.Image

            if TYPE_CHECKING:
                import hubcore_undeclared_typing_only

            try:
                import hubcore_undeclared_guarded
            except ImportError:
                pass


            class Thumbnail:
                import hubcore_undeclared_in_a_class


            def on_trio():
                import trio
            """
        )
    )
    return tmp_path


def test_checker_finds_eager_and_lazy_imports(project: Path) -> None:
    found = {(i.module, i.lazy) for i in imports_of(project / "toy")}
    assert found == {
        ("os", False),
        ("pytest", False),
        ("toy", False),
        ("typing", False),
        ("PIL", False),
        ("hubcore_undeclared_typing_only", True),
        ("hubcore_undeclared_guarded", True),
        ("hubcore_undeclared_in_a_class", False),
        ("trio", True),
    }


def test_checker_reports_each_undeclared_import_with_its_place(project: Path) -> None:
    """An undeclared import fails the check: eager ones always, lazy ones unless optional."""
    problems = undeclared(project, project / "toy", declared(project / "pyproject.toml"))
    assert problems == [
        "toy/images.py:4 imports PIL (distribution pillow), "
        "which pyproject.toml does not declare here",
        "toy/images.py:7 lazily imports hubcore_undeclared_typing_only (distribution "
        "hubcore-undeclared-typing-only), which pyproject.toml does not declare here",
        "toy/images.py:10 lazily imports hubcore_undeclared_guarded (distribution "
        "hubcore-undeclared-guarded), which pyproject.toml does not declare here",
        "toy/images.py:16 imports hubcore_undeclared_in_a_class (distribution "
        "hubcore-undeclared-in-a-class), which pyproject.toml does not declare here",
        "toy/images.py:20 lazily imports trio (distribution trio), "
        "which pyproject.toml does not declare here",
    ]


def test_checker_accepts_declared_imports_by_distribution_name(project: Path) -> None:
    """``import PIL`` is covered by declaring pillow (through another extra, too); a lazy
    import named optional is accepted, an eager one never is."""
    allowed = declared(project / "pyproject.toml", "all")
    assert allowed == {"pytest", "pillow", "packaging"}
    optional = {
        "trio": "why",
        "hubcore_undeclared_typing_only": "why",
        "hubcore_undeclared_guarded": "why",
        "hubcore_undeclared_in_a_class": "why",
    }
    problems = undeclared(project, project / "toy", allowed, optional)
    assert [p.split(" (")[0] for p in problems] == [
        "toy/images.py:16 imports hubcore_undeclared_in_a_class"
    ]


def test_checker_reports_declarations_nothing_imports(project: Path) -> None:
    pyproject = project / "pyproject.toml"
    assert unused(project, [project / "toy"], declared(pyproject, "all", "unused")) == {
        "packaging",
        "hypothesis",
    }


def test_unknown_extra_is_an_error(project: Path) -> None:
    with pytest.raises(KeyError, match="has no extra 'nope'"):
        declared(project / "pyproject.toml", "nope")
