"""Component discovery: builtins, entry-point groups, files and modules, and the errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchx.specs.api import TorchXError
from torchx.specs.file_linter import parse_docstring, validate
from torchx.specs.finder import (
    ComponentNotFoundException,
    ComponentValidationException,
    find_components,
    get_component,
    get_components,
)
from torchx.util import entrypoints

BUILTINS = {
    "utils.echo", "utils.touch", "utils.sh", "utils.python", "utils.binary", "utils.copy",
    "utils.booth", "utils.hydra", "dist.ddp", "dist.torchrun", "dist.spmd",
}

_TRAINER = '''
import torchx.specs as specs


def trainer(name: str = "test app") -> specs.AppDef:
    """Trains.

    Args:
        name: the app name
    """
    return specs.AppDef(name=name, roles=[specs.Role(name="t", image="i", entrypoint="echo")])


def no_annotation(x) -> specs.AppDef:
    return specs.AppDef(name="x")


def _private() -> specs.AppDef:
    return specs.AppDef(name="p")
'''


@pytest.fixture
def my_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``my_project/bar/baz.py`` (a component), plus a namespace dir that must not be searched."""
    root = tmp_path / "my_project"
    (root / "bar").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "bar" / "__init__.py").write_text("")
    (root / "bar" / "baz.py").write_text(_TRAINER)
    (root / "ns").mkdir()  # namespace package: no __init__.py
    (root / "ns" / "hidden.py").write_text(_TRAINER)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for mod in [m for m in sys.modules if m == "my_project" or m.startswith("my_project.")]:
        del sys.modules[mod]


@pytest.fixture
def fake_entry_points() -> Iterator[dict[str, object]]:
    eps: dict[str, object] = {}
    entrypoints._cache["torchx.components"] = eps
    yield eps
    entrypoints.clear_cache()


class _EP:
    def __init__(self, value: str) -> None:
        self.value = value


def test_builtins_without_entry_points() -> None:
    comps = get_components()
    assert set(comps) == BUILTINS  # and no helper function of torchx.components leaks in
    for name in BUILTINS:
        assert comps[name].validation_errors == [], name
        assert comps[name].description, f"{name} has no docstring"
    assert comps["dist.ddp"].fn_name == "ddp"


@pytest.mark.parametrize(
    "groups, expected",
    [
        ([("foo", "my_project.bar")], {"foo.baz.trainer", "foo.baz.no_annotation"}),
        (
            [("foo", "my_project.bar"), ("test", "my_project")],
            {"foo.baz.trainer", "foo.baz.no_annotation", "test.bar.baz.trainer", "test.bar.baz.no_annotation"},
        ),
        ([("_", "my_project.bar.baz")], {"trainer", "no_annotation"}),
        ([("_0", "my_project.bar")], {"baz.trainer", "baz.no_annotation"}),
    ],
)
def test_groups(my_project: Path, groups: list[tuple[str, str]], expected: set[str]) -> None:
    assert set(find_components(groups)) == expected


def test_underscore_groups_restore_builtins_unprefixed(my_project: Path) -> None:
    names = set(find_components([("_0", "my_project.bar"), ("_1", "torchx.components")]))
    assert {"baz.trainer", "dist.ddp", "utils.python"} <= names
    assert BUILTINS <= names


def test_torchx_group_adds_builtins_with_prefix(my_project: Path) -> None:
    names = set(find_components([("foo", "my_project.bar"), ("torchx", "torchx.components")]))
    assert {"foo.baz.trainer", "torchx.dist.ddp", "torchx.utils.echo"} <= names
    assert "dist.ddp" not in names


def test_namespace_packages_are_not_searched(my_project: Path) -> None:
    names = set(find_components([("test", "my_project")]))
    assert "test.bar.baz.trainer" in names
    assert not any("hidden" in n or ".ns." in n for n in names)


def test_entry_points_replace_builtins(my_project: Path, fake_entry_points: dict[str, object]) -> None:
    fake_entry_points["foo"] = _EP("my_project.bar")
    comps = get_components()
    assert set(comps) == {"foo.baz.trainer", "foo.baz.no_annotation"}
    assert get_component("foo.baz.trainer").description == "Trains."
    with pytest.raises(ComponentNotFoundException, match="unknown component `dist.ddp`"):
        get_component("dist.ddp")


def test_broken_group_module_is_skipped(my_project: Path, caplog: pytest.LogCaptureFixture) -> None:
    names = set(find_components([("x", "no_such_module_abc"), ("foo", "my_project.bar")]))
    assert "foo.baz.trainer" in names
    assert "no_such_module_abc" in caplog.text


def test_not_found_suggests_close_names() -> None:
    with pytest.raises(ComponentNotFoundException, match=r"unknown component `dist.dpp`. Did you mean `dist.ddp`"):
        get_component("dist.dpp")
    with pytest.raises(ComponentNotFoundException, match=r"Did you mean `utils.echo`"):
        get_component("utils.ecoh")


def test_invalid_component_reports_errors_not_missing(my_project: Path) -> None:
    with pytest.raises(ComponentValidationException) as e:
        get_component("my_project.bar.baz:no_annotation")
    assert "parameter `x` has no type annotation; annotate it, e.g. `x: str`" in str(e.value)
    assert isinstance(e.value, TorchXError)


def test_module_and_file_forms(my_project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_component("my_project.bar.baz:trainer").fn_name == "trainer"
    monkeypatch.chdir(my_project)
    comp = get_component("bar/baz.py:trainer")
    assert comp.name == "bar/baz.py:trainer" and comp.fn().name == "test app"
    assert get_component(str(my_project / "bar" / "baz.py") + ":trainer").fn_name == "trainer"


@pytest.mark.parametrize(
    "name, message",
    [
        ("bar/baz.py:trainr", r"has no function `trainr`. Did you mean `trainer`"),
        ("bar/nope.py:trainer", r"component file `bar/nope.py` does not exist"),
        ("my_project.nope:trainer", r"no module `my_project.nope`"),
        ("bar/baz.py", r"name the function in `bar/baz.py`: `bar/baz.py:FN`; it defines `bar/baz.py:trainer`"),
    ],
)
def test_file_and_module_not_found(my_project: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str) -> None:
    monkeypatch.chdir(my_project)
    with pytest.raises(ComponentNotFoundException, match=message):
        get_component(name)


def test_file_that_fails_to_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    with pytest.raises(ComponentValidationException, match=r"cannot load .*SyntaxError"):
        get_component(f"{bad}:f")


# --------------------------------------------------------------------------- linter


def _fn(src: str) -> object:
    ns: dict[str, object] = {}
    exec(textwrap.dedent(src), ns)
    return ns["f"]


@pytest.mark.parametrize(
    "src, errors",
    [
        ("from torchx.specs import AppDef\ndef f(a: str, *b: str, c: int | None = None) -> AppDef: ...", []),
        ("import torchx.specs as specs\ndef f(a: list[str], b: dict[str, str]) -> specs.AppDef: ...", []),
        ("from typing import Optional, List, Dict\nfrom torchx.specs import AppDef\n"
         "def f(a: Optional[str], b: List[str], c: Dict[str, int]) -> AppDef: ...", []),
        ("from __future__ import annotations\nfrom torchx.specs import AppDef\ndef f(a: float, b: bool) -> AppDef: ...", []),
        ("from torchx.specs import AppDef\ndef f(a) -> AppDef: ...", ["parameter `a` has no type annotation"]),
        ("def f(a: str): ...", ["missing return annotation; declare `-> AppDef`"]),
        ("def f(a: str) -> int: ...", ["returns `int`, must be annotated `-> AppDef`"]),
        ("from torchx.specs import AppDef\ndef f(a: set) -> AppDef: ...", ["parameter `a` has unsupported type `set`"]),
        ("from torchx.specs import AppDef\ndef f(*a: int) -> AppDef: ...", ["`*a` must be annotated `str`"]),
        ("from torchx.specs import AppDef\ndef f(**kw: str) -> AppDef: ...", ["`**kw` is not supported"]),
        ("from torchx.specs import AppDef\ndef f(a: dict[str, list[str]]) -> AppDef: ...", ["unsupported type"]),
        ("from __future__ import annotations\nfrom torchx.specs import AppDef\ndef f(a: Nope) -> AppDef: ...",
         ["cannot resolve its type annotations (NameError: name 'Nope' is not defined)"]),
    ],
)
def test_validate(src: str, errors: list[str]) -> None:
    got = validate(_fn(src))  # type: ignore[arg-type]
    assert len(got) == len(errors), got
    for msg, expected in zip(got, errors, strict=True):
        assert expected in msg


@pytest.mark.parametrize(
    "doc, description, args",
    [
        (None, "", {}),
        ("One line.", "One line.", {}),
        (
            """Summary.

            More text.

            Args:
                a: first
                    continued
                b (int): second
                *args: rest

            Returns:
                x: not an arg
            """,
            "Summary.\n\nMore text.",
            {"a": "first continued", "b": "second", "args": "rest"},
        ),
        ("Title.\n\nParameters:\n    name: the name: with colon\n", "Title.", {"name": "the name: with colon"}),
    ],
)
def test_parse_docstring(doc: str | None, description: str, args: dict[str, str]) -> None:
    parsed = parse_docstring(doc)
    assert (parsed.description, parsed.args) == (description, args)
