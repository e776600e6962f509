"""Overlays: a user's patch to the native request a scheduler builds.

An AppDef says what every scheduler understands; an *overlay* sets what only one backend has
(a pod's ``tolerations``, a Docker container's ``shm_size``...). It is a dict (or dataclass)
merged into the request the scheduler builds from the AppDef, just before submission.

Overlays live in ``target.metadata[namespace][kind]`` (the target is a ``Role`` or an ``AppDef``),
with the marker ``__torchx_overlays__: True`` in the namespace dict::

    set_overlay(role, "kubernetes", "V1Pod", {"spec": {"tolerations": [...]}})
    set_overlay(role, "docker", "container", {"shm_size": "2g"})

Merge rules (:py:func:`apply_overlay`): dicts merge recursively, lists append, a tuple replaces a
list, primitives overwrite, and a structural mismatch (a dict onto a list...) is a ``TypeError``.
Operator keys change a key's rule: ``PUT(k)`` replaces the value, ``DEL(k)`` removes the key and
``JOIN(k, on=field)`` merges list items that share ``field`` (appending the others)::

    {"spec": {PUT("volumes"): [...], JOIN("containers", on="name"): [{"name": "x", ...}]}}

Which native object each scheduler's kinds target is written in that scheduler's docstring.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MARKER = "__torchx_overlays__"
"""Key marking a metadata namespace dict as ``{kind: overlay}`` (not one flat overlay)."""

_PUT, _JOIN, _DEL = "__put__:", "__join__:", "__del__:"


def PUT(key: str) -> str:
    """Operator key: replace ``key``'s value instead of merging into it."""
    return _PUT + key


def JOIN(key: str, on: str) -> str:
    """Operator key: merge the list at ``key`` item by item, matching items on field ``on``."""
    if not on or ":" in on:
        raise ValueError(f"JOIN({key!r}, on={on!r}): `on` names one field (without `:`)")
    return f"{_JOIN}{key}:{on}"


def DEL(key: str) -> str:
    """Operator key: remove ``key`` (the value given with it is ignored)."""
    return _DEL + key


def _plain_key(key: str) -> str:
    """The key an (operator) key acts on: ``__join__:containers:name`` -> ``containers``."""
    if key.startswith(_JOIN):
        return key[len(_JOIN):].rsplit(":", 1)[0]
    for prefix in (_PUT, _DEL):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def _to_plain(value: Any) -> Any:
    """Dataclasses to dicts (None fields dropped), enums to their values, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    if isinstance(value, enum.Enum):
        return _to_plain(value.value)
    if isinstance(value, Mapping):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_to_plain(v) for v in value)
    return value


def _resolve(value: Any) -> Any:
    """An overlay value as it lands where the base has nothing: operators applied to empty."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        apply_overlay(out, value)
        return out
    if isinstance(value, (list, tuple)):
        return [_resolve(v) for v in value]
    return copy.deepcopy(value)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "dict"
    if isinstance(value, (list, tuple)):
        return "list"
    return "value"


def _join(base: list[Any], items: Any, on: str, path: str) -> None:
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"overlay `{path}`: JOIN needs a list, got {type(items).__name__}")
    for item in items:
        if not isinstance(item, Mapping) or on not in item:
            raise ValueError(f"overlay `{path}`: every JOIN item must be a dict with `{on}`")
        match = next(
            (b for b in base if isinstance(b, dict) and b.get(on) == item[on]), None
        )
        if match is None:
            base.append(_resolve(item))
        else:
            apply_overlay(match, item)


def apply_overlay(base: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    """Merge ``overlay`` into ``base`` in place (see the module docstring for the rules)."""
    if not isinstance(base, dict) or not isinstance(overlay, Mapping):
        raise TypeError(
            f"apply_overlay merges a dict into a dict, got {type(overlay).__name__} onto"
            f" {type(base).__name__}"
        )
    for key, value in overlay.items():
        if key == MARKER:
            continue
        if key.startswith(_DEL):
            base.pop(key[len(_DEL):], None)
        elif key.startswith(_PUT):
            base[key[len(_PUT):]] = _resolve(value)
        elif key.startswith(_JOIN):
            name, on = key[len(_JOIN):].rsplit(":", 1)
            current = base.get(name)
            if current is None:
                base[name] = current = []
            if not isinstance(current, list):
                raise TypeError(f"overlay JOIN `{name}`: the base value is not a list")
            _join(current, value, on, name)
        elif base.get(key) is None:
            base[key] = _resolve(value)
        elif isinstance(value, tuple):  # legacy: a tuple replaces a list
            if not isinstance(base[key], list):
                raise TypeError(f"overlay `{key}`: a tuple replaces a list, base is {_kind(base[key])}")
            base[key] = _resolve(value)
        elif _kind(base[key]) != _kind(value):
            raise TypeError(
                f"overlay `{key}`: cannot merge a {_kind(value)} into a {_kind(base[key])};"
                f" use PUT({key!r}) to replace it"
            )
        elif isinstance(value, Mapping):
            apply_overlay(base[key], value)
        elif isinstance(value, list):
            base[key] = list(base[key]) + _resolve(value)
        else:
            base[key] = copy.deepcopy(value)


def _accumulate(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    """Merge two overlays key by key (operator keys are kept as keys): dicts merge, lists append."""
    for key, value in new.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _accumulate(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key].extend(copy.deepcopy(value))
        else:
            into[key] = copy.deepcopy(value)


def _metadata(target: Any) -> dict[str, Any]:
    metadata = target if isinstance(target, dict) else getattr(target, "metadata", None)
    if not isinstance(metadata, dict):
        raise TypeError(f"overlays live in `.metadata` (a dict); {type(target).__name__} has none")
    return metadata


def set_overlay(target: Any, namespace: str, kind: str, overlay: Any) -> None:
    """Add ``overlay`` (a dict or a dataclass) for ``kind`` to ``target.metadata[namespace]``.

    Calling it again for the same kind accumulates: dicts merge, lists append.
    """
    plain = _to_plain(overlay)
    if not isinstance(plain, Mapping):
        raise TypeError(f"an overlay is a dict or a dataclass, got {type(overlay).__name__}")
    metadata = _metadata(target)
    ns = metadata.get(namespace)
    if not isinstance(ns, dict) or not ns.get(MARKER):
        if ns:
            raise ValueError(
                f"metadata[{namespace!r}] already holds something that is not an overlay"
                f" namespace ({type(ns).__name__}); move it or use another namespace"
            )
        ns = metadata[namespace] = {MARKER: True}
    _accumulate(ns.setdefault(kind, {}), plain)


def _load_uri(uri: str) -> Any:
    """A JSON or YAML document read through fsspec (YAML may hold ``!!python/tuple``)."""
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            f"overlay `{uri}` is a file; reading it needs fsspec: pip install 'torchx[fsspec]'"
        ) from None
    with fsspec.open(uri, "r") as f:
        text = f.read()
    if uri.endswith(".json"):
        return json.loads(text)
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            f"overlay `{uri}` is YAML; reading it needs pyyaml: pip install 'torchx[yaml]'"
        ) from None

    class _Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    _Loader.add_constructor(
        "tag:yaml.org,2002:python/tuple",
        lambda loader, node: tuple(loader.construct_sequence(node, deep=True)),
    )
    return yaml.load(text, Loader=_Loader)  # SafeLoader + tuples only


def get_overlay(
    target: Any, namespace: str, kind: str, *, flat_fallback: bool = True
) -> dict[str, Any]:
    """The overlay for ``kind`` in ``target.metadata[namespace]``; ``{}`` when there is none.

    A string (at the namespace or at the kind) is an fsspec URI of a JSON or YAML file. A dict
    without the overlay marker is one flat overlay (with a warning) when ``flat_fallback``.
    """
    ns = _metadata(target).get(namespace)
    if ns is None:
        return {}
    if isinstance(ns, str):
        ns = _load_uri(ns)
    if not isinstance(ns, Mapping):
        raise TypeError(f"metadata[{namespace!r}] is a {type(ns).__name__}, not an overlay dict")
    if not ns.get(MARKER):
        if not flat_fallback:
            ns = {k: v for k, v in ns.items() if k == kind}
        else:
            log.warning(
                "metadata[%r] is not an overlay namespace; using it whole as the %s overlay"
                " (write it with torchx.specs.overlays.set_overlay)", namespace, kind,
            )
            return {k: copy.deepcopy(v) for k, v in ns.items()}
    value = ns.get(kind, {})
    if isinstance(value, str):
        value = _load_uri(value)
    if not isinstance(value, Mapping):
        raise TypeError(f"overlay {namespace}/{kind} is a {type(value).__name__}, not a dict")
    return {k: copy.deepcopy(v) for k, v in value.items()}


def _paths(overlay: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, str]]:
    """(dotted path, key name) of every key an overlay sets, operators decoded."""
    for key, value in overlay.items():
        if key == MARKER:
            continue
        name = _plain_key(key)
        path = f"{prefix}{name}"
        yield path, name
        if isinstance(value, Mapping):
            yield from _paths(value, path + ".")
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, Mapping):
                    yield from _paths(item, path + ".")


def validate_overlay(
    overlay: Mapping[str, Any],
    *,
    blocklist: Iterable[str] = (),
    forbidden_keys: Iterable[str] = (),
    overlay_name: str = "overlay",
    suggestion: str = "",
) -> None:
    """``ValueError`` when ``overlay`` sets a path torchx owns or a key that is never allowed.

    ``blocklist`` holds dotted paths (``spec.containers`` also blocks what is under it);
    ``forbidden_keys`` holds key names refused at any depth. ``suggestion`` ends the message.
    """
    blocked, forbidden = tuple(blocklist), set(forbidden_keys)
    for path, name in _paths(overlay):
        hit = next((b for b in blocked if path == b or path.startswith(b + ".")), None)
        if hit is not None or name in forbidden:
            what = f"`{hit}`" if hit is not None else f"the key `{name}`"
            raise ValueError(
                f"{overlay_name} may not set {what} (at `{path}`): torchx sets it from the AppDef"
                + (f"; {suggestion}" if suggestion else "")
            )


@dataclass(frozen=True)
class OverlaySpec:
    """One kind of overlay a scheduler accepts: where it lives and which paths torchx owns."""

    namespace: str
    kind: str
    blocklist: tuple[str, ...] = field(default_factory=tuple)

    def set(self, target: Any, overlay: Any) -> None:
        """Validate ``overlay`` against the blocklist, then :py:func:`set_overlay` it."""
        validate_overlay(
            _to_plain(overlay), blocklist=self.blocklist,
            overlay_name=f"{self.namespace}/{self.kind} overlay",
        )
        set_overlay(target, self.namespace, self.kind, overlay)

    def get(self, target: Any) -> dict[str, Any]:
        """The validated overlay (nested format only: no flat fallback)."""
        overlay = get_overlay(target, self.namespace, self.kind, flat_fallback=False)
        validate_overlay(
            overlay, blocklist=self.blocklist, overlay_name=f"{self.namespace}/{self.kind} overlay"
        )
        return overlay


__all__ = [
    "DEL", "JOIN", "MARKER", "PUT", "OverlaySpec", "apply_overlay", "get_overlay", "set_overlay",
    "validate_overlay",
]
