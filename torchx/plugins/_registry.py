"""The plugin registry: namespace packages and entry points, discovered once, lazily.

Two channels per kind (:py:class:`PluginType`): functions marked with ``register.<kind>`` in the
modules of the namespace package ``torchx_plugins.<kind>``, and the entry-point group named by
the kind. Entry points overwrite namespace plugins of the same name (the collision is recorded).
``TORCHX_PLUGINS_SOURCE`` picks the channels: 0 none, 1 namespace only, 2 entry points only,
3 both (the default).

Nothing raises while discovering: an import error, a plugin under the wrong namespace or a
conflicting duplicate becomes a :py:class:`RegistrationError` in ``errors`` (logged at DEBUG;
callers report the errors that matter to them, e.g. when a name is not found); the first
plugin of a name wins.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from torchx.plugins._registration import PluginType

log = logging.getLogger(__name__)

ENV_PLUGINS_SOURCE = "TORCHX_PLUGINS_SOURCE"
NAMESPACE, ENTRY_POINT = "namespace", "entry_point"


@dataclass(frozen=True)
class RegistrationError:
    """A plugin that could not be registered: where, why, and (when known) which."""

    module: str
    error: str
    name: str | None = None
    plugin_type: PluginType | None = None

    def __str__(self) -> str:
        what = f"{self.plugin_type.name.lower()} `{self.name}`" if self.plugin_type and self.name \
            else (self.plugin_type.name.lower() if self.plugin_type else "plugin")
        return f"{what} in {self.module}: {self.error}"


@dataclass
class PluginInfo:
    """One registered plugin."""

    name: str
    plugin_type: PluginType
    value: Any
    source: str
    """``namespace`` or ``entry_point``."""
    module: str
    aliases: list[str] = field(default_factory=list)
    fractionals: list[str] = field(default_factory=list)


def plugins_source() -> int:
    """``TORCHX_PLUGINS_SOURCE`` as 0-3 (default 3); ValueError for anything else."""
    raw = os.environ.get(ENV_PLUGINS_SOURCE, "3").strip() or "3"
    if raw not in ("0", "1", "2", "3"):
        raise ValueError(
            f"{ENV_PLUGINS_SOURCE}={raw!r}: use 0 (no plugins), 1 (namespace packages), 2 (entry"
            " points) or 3 (both)"
        )
    return int(raw)


def _same(plugin_type: PluginType, a: Any, b: Any) -> bool:
    if a is b:
        return True
    if plugin_type is PluginType.NAMED_RESOURCE:
        try:
            return bool(a() == b())
        except Exception:
            return False
    return getattr(a, "__wrapped__", a) is getattr(b, "__wrapped__", b)


def _submodules(module: ModuleType) -> Iterable[str]:
    """Public submodules and sub-packages (regular or implicit namespace) of a package."""
    seen: set[str] = set()
    for path in getattr(module, "__path__", []):
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            continue
        for entry in entries:
            stem = entry[:-3] if entry.endswith(".py") else entry
            full = os.path.join(path, entry)
            is_pkg = os.path.isdir(full) and "." not in entry
            if stem.startswith("_") or not stem.isidentifier() or stem in seen:
                continue
            if is_pkg or entry.endswith(".py"):
                seen.add(stem)
                yield f"{module.__name__}.{stem}"


class PluginRegistry:
    """Plugins of every kind, discovered on first use (thread-safe, once per kind)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._plugins: dict[PluginType, dict[str, PluginInfo]] = {}
        self._errors: list[RegistrationError] = []
        self._discovering: set[PluginType] = set()
        self._generation = -1  # of torchx.util.entrypoints when discovered

    # ---- queries

    def get(self, plugin_type: PluginType) -> dict[str, Any]:
        """``{name: plugin}`` of one kind (discovered on the first call, then cached)."""
        return {name: info.value for name, info in self._discover(plugin_type).items()}

    def info(self, plugin_type: PluginType | None = None) -> dict[str, PluginInfo]:
        """``{name: PluginInfo}`` of one kind, or of every kind keyed ``<kind>:<name>``."""
        if plugin_type is not None:
            return dict(self._discover(plugin_type))
        return {f"{t.name.lower()}:{n}": i for t in PluginType for n, i in self._discover(t).items()}

    @property
    def errors(self) -> list[RegistrationError]:
        """The errors of the discoveries made so far (does not discover)."""
        return list(self._errors)

    def load_errors(self, plugin_type: PluginType | None = None) -> list[RegistrationError]:
        """Discover (one kind, or all) and return the errors found."""
        for t in [plugin_type] if plugin_type else list(PluginType):
            self._discover(t)
        return [e for e in self._errors if plugin_type is None or e.plugin_type == plugin_type]

    def errors_for(self, plugin_type: PluginType, name: str) -> list[RegistrationError]:
        """The registration errors of one plugin (matched ignoring case), after discovery."""
        self._discover(plugin_type)
        return [e for e in self._errors if e.plugin_type == plugin_type
                and e.name is not None and e.name.lower() == name.lower()]

    def clear(self) -> None:
        """Forget everything discovered (the next query discovers again)."""
        with self._lock:
            self._plugins.clear()
            self._errors.clear()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for t in PluginType:
            out[t.name.lower()] = {
                n: {"source": i.source, "module": i.module,
                    **({"aliases": i.aliases} if i.aliases else {}),
                    **({"fractionals": i.fractionals} if i.fractionals else {})}
                for n, i in sorted(self._discover(t).items())
            }
        out["errors"] = [str(e) for e in self._errors]
        return out

    def __str__(self) -> str:
        lines: list[str] = []
        for section, entries in self.to_dict().items():
            lines.append(f"{section}:")
            if section == "errors":
                lines += [f"  - {e}" for e in entries]
                continue
            for name, meta in entries.items():
                lines.append(f"  {name}: {meta['source']} ({meta['module']})")
                for key in ("aliases", "fractionals"):
                    if key in meta:
                        lines.append(f"    {key}: {', '.join(meta[key])}")
        return "\n".join(lines)

    # ---- discovery

    def _record(self, error: RegistrationError) -> None:
        self._errors.append(error)
        log.debug("torchx plugin not registered: %s", error)

    def _discover(self, plugin_type: PluginType) -> dict[str, PluginInfo]:
        from torchx.util import entrypoints

        with self._lock:
            if self._generation != entrypoints.generation():  # entry points were re-read
                self.clear()
                self._generation = entrypoints.generation()
            if plugin_type in self._plugins:
                return self._plugins[plugin_type]
            if plugin_type in self._discovering:
                raise RuntimeError(
                    f"{plugin_type.name.lower()} plugins were requested while they are being"
                    " discovered (a plugin module looks plugins up at import); look them up"
                    " inside a function instead"
                )
            self._discovering.add(plugin_type)
            try:
                source = plugins_source()
                found: dict[str, PluginInfo] = {}
                if source & 1:
                    found.update(self._from_namespace(plugin_type))
                if source & 2 and plugin_type is not PluginType.COMPONENT:
                    for name, info in self._from_entry_points(plugin_type).items():
                        old = found.get(name)
                        if old is not None and not _same(plugin_type, old.value, info.value):
                            self._record(RegistrationError(
                                info.module, f"overrides the namespace plugin from {old.module}",
                                name, plugin_type))
                        found[name] = info
                self._plugins[plugin_type] = found
                return found
            finally:
                self._discovering.discard(plugin_type)

    def _add(self, found: dict[str, PluginInfo], info: PluginInfo) -> None:
        old = found.get(info.name)
        if old is None:
            found[info.name] = info
        elif not _same(info.plugin_type, old.value, info.value):
            self._record(RegistrationError(
                info.module, f"duplicate name (first registered in {old.module}, which wins)",
                info.name, info.plugin_type))

    def _from_namespace(self, plugin_type: PluginType) -> dict[str, PluginInfo]:
        import importlib

        found: dict[str, PluginInfo] = {}
        try:
            root = importlib.import_module(plugin_type.namespace)
        except ModuleNotFoundError as e:
            if e.name is not None and plugin_type.namespace.startswith(e.name):
                return found  # no such namespace package installed
            self._record(RegistrationError(plugin_type.namespace, repr(e), None, plugin_type))
            return found
        except Exception as e:
            self._record(RegistrationError(plugin_type.namespace, repr(e), None, plugin_type))
            return found
        pending = list(_submodules(root))
        while pending:
            name = pending.pop(0)
            try:
                module = importlib.import_module(name)
            except Exception as e:
                self._record(RegistrationError(name, f"import failed: {e!r}", None, plugin_type))
                continue
            self._collect(module, plugin_type, found)
            pending[0:0] = list(_submodules(module))  # depth first, in name order
        return found

    def _collect(self, module: ModuleType, plugin_type: PluginType,
                 found: dict[str, PluginInfo]) -> None:
        for obj in list(vars(module).values()):
            marked = getattr(obj, "_plugin_type", None)
            if marked is None or not callable(obj) or obj.__module__ != module.__name__:
                continue  # not a plugin, or re-exported from elsewhere
            name = str(getattr(obj, "_plugin_name", obj.__name__))
            if marked is not plugin_type:
                self._record(RegistrationError(
                    module.__name__,
                    f"registered as {PluginType(marked).name.lower()} but found under"
                    f" {plugin_type.namespace}; move it to {PluginType(marked).namespace}",
                    name, plugin_type))
                continue
            variants: dict[str, Callable[[], Any]] | None = getattr(obj, "_plugin_variants", None)
            if variants:
                base = variants[name]
                extra = [n for n in variants if n != name]
                self._add(found, PluginInfo(
                    name, plugin_type, base, NAMESPACE, module.__name__,
                    aliases=[n for n in extra if not n.startswith(name + "_")],
                    fractionals=[n for n in extra if n.startswith(name + "_")]))
                for vname in extra:
                    self._add(found, PluginInfo(vname, plugin_type, variants[vname], NAMESPACE,
                                                module.__name__))
            elif not hasattr(obj, "__wrapped__") or name not in found:
                self._add(found, PluginInfo(name, plugin_type, obj, NAMESPACE, module.__name__))

    def _from_entry_points(self, plugin_type: PluginType) -> dict[str, PluginInfo]:
        from torchx.util import entrypoints

        found: dict[str, PluginInfo] = {}
        for name, ep in entrypoints.entry_points(plugin_type.value).items():
            try:
                value = ep.load()
            except Exception as e:
                self._record(RegistrationError(ep.value, f"cannot load: {e!r}", name, plugin_type))
                continue
            found[name] = PluginInfo(name, plugin_type, value, ENTRY_POINT, ep.value)
        return found


@functools.lru_cache(maxsize=1)
def registry() -> PluginRegistry:
    """The process-wide plugin registry."""
    return PluginRegistry()
