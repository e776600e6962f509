"""torchx.specs.overlays: where overlays live, how they merge, and how they are guarded."""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from torchx.specs import AppDef, Role
from torchx.specs.overlays import (
    DEL,
    JOIN,
    MARKER,
    PUT,
    OverlaySpec,
    apply_overlay,
    get_overlay,
    set_overlay,
    validate_overlay,
)


def test_operator_keys_are_encoded() -> None:
    assert PUT("volumes") == "__put__:volumes"
    assert DEL("x") == "__del__:x"
    assert JOIN("containers", on="name") == "__join__:containers:name"
    with pytest.raises(ValueError):
        JOIN("containers", on="")


def test_merge_rules() -> None:
    base = {"a": {"b": 1, "c": [1]}, "l": [1], "p": "old", "t": [1, 2]}
    apply_overlay(base, {"a": {"c": [2], "d": 3}, "l": [2], "p": "new", "t": (9,), "n": {"x": 1}})
    assert base == {"a": {"b": 1, "c": [1, 2], "d": 3}, "l": [1, 2], "p": "new", "t": [9],
                    "n": {"x": 1}}


@pytest.mark.parametrize(
    "base, overlay",
    [({"a": {"b": 1}}, {"a": [1]}), ({"a": [1]}, {"a": {"b": 1}}), ({"a": 1}, {"a": {"b": 1}}),
     ({"a": {"b": 1}}, {"a": 2})],
)
def test_structural_mismatch_is_type_error(base: dict, overlay: dict) -> None:
    with pytest.raises(TypeError, match="PUT"):
        apply_overlay(base, overlay)


def test_put_join_del() -> None:
    base = {
        "spec": {
            "volumes": [{"name": "dshm"}],
            "containers": [{"name": "main", "env": [{"name": "A"}]}, {"name": "side"}],
            "hostNetwork": True,
        }
    }
    apply_overlay(base, {"spec": {
        PUT("volumes"): [{"name": "mine"}],
        JOIN("containers", on="name"): [{"name": "main", "env": [{"name": "B"}]},
                                        {"name": "new"}],
        DEL("hostNetwork"): None,
    }})
    assert base == {"spec": {
        "volumes": [{"name": "mine"}],
        "containers": [{"name": "main", "env": [{"name": "A"}, {"name": "B"}]},
                       {"name": "side"}, {"name": "new"}],
    }}


def test_operators_apply_where_the_base_has_nothing() -> None:
    base: dict = {}
    apply_overlay(base, {"spec": {PUT("a"): [1], JOIN("c", on="name"): [{"name": "x"}]}})
    assert base == {"spec": {"a": [1], "c": [{"name": "x"}]}}


def test_join_items_need_the_field() -> None:
    with pytest.raises(ValueError, match="`name`"):
        apply_overlay({"c": []}, {JOIN("c", on="name"): [{"image": "x"}]})


def test_apply_does_not_share_overlay_objects() -> None:
    overlay = {"a": {"b": [1]}}
    base: dict = {}
    apply_overlay(base, overlay)
    base["a"]["b"].append(2)
    assert overlay == {"a": {"b": [1]}}


class Color(enum.Enum):
    RED = "red"


@dataclass
class Toleration:
    key: str
    effect: Color | None = None
    value: str | None = None


@pytest.mark.parametrize("make_target", [lambda: Role(name="r", image="i"), lambda: AppDef("a")])
def test_set_and_get_accumulate_on_roles_and_apps(make_target: object) -> None:
    target = make_target()  # type: ignore[operator]
    set_overlay(target, "kubernetes", "V1Pod", {"spec": {"tolerations": [{"key": "a"}]}})
    set_overlay(target, "kubernetes", "V1Pod",
                {"spec": {"tolerations": [Toleration("b", Color.RED)], "x": 1}})
    assert target.metadata["kubernetes"][MARKER] is True
    assert get_overlay(target, "kubernetes", "V1Pod") == {
        "spec": {"tolerations": [{"key": "a"}, {"key": "b", "effect": "red"}], "x": 1}
    }
    assert get_overlay(target, "kubernetes", "V1Service") == {}
    assert get_overlay(target, "docker", "container") == {}


def test_set_accepts_a_dataclass() -> None:
    role = Role(name="r", image="i")
    set_overlay(role, "ns", "kind", Toleration("k", value=None))
    assert get_overlay(role, "ns", "kind") == {"key": "k"}


def test_set_refuses_to_clobber_non_overlay_metadata() -> None:
    role = Role(name="r", image="i", metadata={"kubernetes": {"some": "thing"}})
    with pytest.raises(ValueError, match="not an overlay namespace"):
        set_overlay(role, "kubernetes", "V1Pod", {"a": 1})


def test_flat_fallback(caplog: pytest.LogCaptureFixture) -> None:
    role = Role(name="r", image="i", metadata={"kubernetes": {"spec": {"a": 1}}})
    with caplog.at_level(logging.WARNING):
        assert get_overlay(role, "kubernetes", "V1Pod") == {"spec": {"a": 1}}
    assert "not an overlay namespace" in caplog.text
    assert get_overlay(role, "kubernetes", "V1Pod", flat_fallback=False) == {}


def test_uri_values_are_read(tmp_path: Path) -> None:
    pod = tmp_path / "pod.json"
    pod.write_text(json.dumps({"spec": {"a": 1}}))
    role = Role(name="r", image="i")
    role.metadata["kubernetes"] = {MARKER: True, "V1Pod": str(pod)}
    assert get_overlay(role, "kubernetes", "V1Pod") == {"spec": {"a": 1}}
    ns = tmp_path / "ns.json"
    ns.write_text(json.dumps({MARKER: True, "V1Pod": {"spec": {"b": 2}}}))
    role.metadata["kubernetes"] = f"file://{ns}"
    assert get_overlay(role, "kubernetes", "V1Pod") == {"spec": {"b": 2}}


def test_yaml_uri_with_tuple(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    f = tmp_path / "pod.yaml"
    f.write_text("spec:\n  args: !!python/tuple [a, b]\n")
    role = Role(name="r", image="i", metadata={"k": {MARKER: True, "V1Pod": str(f)}})
    overlay = get_overlay(role, "k", "V1Pod")
    assert overlay == {"spec": {"args": ("a", "b")}}
    base = {"spec": {"args": ["x"]}}
    apply_overlay(base, overlay)
    assert base == {"spec": {"args": ["a", "b"]}}


def test_validate_overlay() -> None:
    validate_overlay({"spec": {"tolerations": []}}, blocklist=["spec.containers"])
    with pytest.raises(ValueError, match=r"V1Pod may not set `spec.containers`.*use JOIN"):
        validate_overlay({"spec": {PUT("containers"): []}}, blocklist=["spec.containers"],
                         overlay_name="V1Pod", suggestion="use JOIN")
    with pytest.raises(ValueError, match="the key `privileged`"):
        validate_overlay({"spec": {"containers": [{"privileged": True}]}},
                         forbidden_keys={"privileged"})


def test_overlay_spec() -> None:
    spec = OverlaySpec("docker", "container", blocklist=("image",))
    role = Role(name="r", image="i")
    spec.set(role, {"shm_size": "1g"})
    assert spec.get(role) == {"shm_size": "1g"}
    with pytest.raises(ValueError, match="may not set `image`"):
        spec.set(role, {"image": "other"})
    flat = Role(name="r", image="i", metadata={"docker": {"shm_size": "2g"}})
    assert spec.get(flat) == {}
