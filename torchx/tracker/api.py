"""Experiment tracking: the TrackerBase interface, activation and ``AppRun``.

Trackers are activated by ``TORCHX_TRACKERS=name1,name2`` (config of each in
``TORCHX_TRACKER_<NAME>_CONFIG``) or, when the variable is unset, by ``[torchx:tracker]`` and
``[tracker:<name>] config=...`` in ``.torchxconfig``. A name resolves to a factory
``(config: str | None) -> TrackerBase``: a ``torchx.tracker`` entry point, else a builtin
(``fsspec``, ``mlflow``). The launcher passes :py:func:`tracker_env` to every replica, where
:py:meth:`AppRun.run_from_env` records metadata, artifacts and lineage against the job's handle.
"""

from __future__ import annotations

import abc
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from torchx.specs.errors import TorchXError
from torchx.util.suggest import suggest as _suggest

log = logging.getLogger(__name__)

ENV_TORCHX_TRACKERS = "TORCHX_TRACKERS"
ENV_TORCHX_PARENT_RUN_ID = "TORCHX_PARENT_RUN_ID"
ENV_TORCHX_JOB_ID = "TORCHX_JOB_ID"
UNDEFINED_RUN_ID = "<UNDEFINED>"

BUILTIN_TRACKERS: dict[str, str] = {
    "fsspec": "torchx.tracker.backend.fsspec:create",
    "mlflow": "torchx.tracker.mlflow:create",
}
"""Builtin tracker name -> ``module:factory`` (imported on use)."""

TrackerFactory = Callable[[str | None], "TrackerBase"]


class UnknownTrackerException(TorchXError):
    """No tracker factory is registered under a name."""

    exit_code = 2


@dataclass
class TrackerArtifact:
    """A named path (any URL) a run produced, with free-form metadata."""

    name: str
    path: str
    metadata: Mapping[str, object] | None = None


@dataclass
class TrackerSource:
    """A run this run was derived from (optionally through one of its artifacts)."""

    source_run_id: str
    artifact_name: str | None = None


@dataclass
class Lineage:
    """A run and the runs it came from, recursively."""

    run_id: str
    sources: list[TrackerSource] = field(default_factory=list)
    parents: list[Lineage] = field(default_factory=list)


class TrackerBase(abc.ABC):
    """Where runs record metadata, artifacts and sources."""

    @abc.abstractmethod
    def add_artifact(
        self, run_id: str, name: str, path: str, metadata: Mapping[str, object] | None = None
    ) -> None: ...

    @abc.abstractmethod
    def artifacts(self, run_id: str) -> Mapping[str, TrackerArtifact]: ...

    @abc.abstractmethod
    def add_metadata(self, run_id: str, **kwargs: object) -> None: ...

    @abc.abstractmethod
    def metadata(self, run_id: str) -> Mapping[str, object]: ...

    @abc.abstractmethod
    def add_source(self, run_id: str, source_id: str, artifact_name: str | None = None) -> None: ...

    @abc.abstractmethod
    def sources(self, run_id: str, artifact_name: str | None = None) -> Iterable[TrackerSource]: ...

    @abc.abstractmethod
    def lineage(self, run_id: str) -> Lineage: ...

    @abc.abstractmethod
    def run_ids(self, **kwargs: str) -> Iterable[str]: ...


def lineage_from_sources(tracker: TrackerBase, run_id: str) -> Lineage:
    """``run_id``'s lineage built from ``tracker.sources``, recursively (a cycle stops)."""

    def walk(rid: str, visiting: frozenset[str]) -> Lineage:
        sources = list(tracker.sources(rid))
        parents = [walk(s.source_run_id, visiting | {rid})
                   for s in sources if s.source_run_id not in visiting | {rid}]
        return Lineage(rid, sources, parents)

    return walk(run_id, frozenset())


def _env_name(tracker: str) -> str:
    return "TORCHX_TRACKER_" + re.sub(r"[^A-Za-z0-9]", "_", tracker).upper() + "_CONFIG"


def _split(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip()]


def tracker_config() -> dict[str, str | None]:
    """Active tracker name -> its config; the environment beats ``.torchxconfig``."""
    env_names = os.environ.get(ENV_TORCHX_TRACKERS)
    file_configs: dict[str, dict[str, str]] | None = None

    def from_file() -> dict[str, dict[str, str]]:
        nonlocal file_configs
        if file_configs is None:
            from torchx.specs import torchxconfig as config

            file_configs = config.load_sections("tracker")
        return file_configs

    if env_names is not None:
        names = _split(env_names)
    else:
        from torchx.specs import torchxconfig as config

        names = list(config.get_configs("torchx", "tracker"))
    out: dict[str, str | None] = {}
    for name in names:
        value = os.environ.get(_env_name(name))
        if value is None:
            value = from_file().get(name, {}).get("config")
        out[name] = value
    return out


def tracker_env() -> dict[str, str]:
    """The environment that activates the current trackers in a job's replicas."""
    configs = tracker_config()
    if not configs:
        return {}
    env = {ENV_TORCHX_TRACKERS: ",".join(configs)}
    for name, value in configs.items():
        if value is not None:
            env[_env_name(name)] = value
    return env


def get_tracker_factory(name: str) -> TrackerFactory:
    """The factory of tracker ``name``: a plugin (:py:mod:`torchx.plugins`), else a builtin."""
    from torchx.plugins import PluginType, registry

    plugins = registry().get(PluginType.TRACKER)
    plugin = plugins.get(name)
    if plugin is not None:
        return plugin  # type: ignore[no-any-return]
    if name in BUILTIN_TRACKERS:
        import importlib

        module, _, attr = BUILTIN_TRACKERS[name].partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    known = sorted(set(BUILTIN_TRACKERS) | set(plugins))
    raise UnknownTrackerException(f"unknown tracker `{name}`" + _suggest(name, known, "trackers"))


def build_trackers(configs: Mapping[str, str | None]) -> list[TrackerBase]:
    """One tracker per name; one that cannot be built is reported once and skipped."""
    trackers: list[TrackerBase] = []
    for name, config in configs.items():
        try:
            trackers.append(get_tracker_factory(name)(config))
        except Exception as e:  # a broken tracker must not break the job
            log.warning("skipping tracker `%s`: %s: %s", name, type(e).__name__, e)
    return trackers


def trackers_from_environ() -> list[TrackerBase]:
    """The trackers the environment (or .torchxconfig) activates."""
    return build_trackers(tracker_config())


@dataclass
class AppRun:
    """The current job's run: what a replica records goes to every active tracker."""

    id: str
    backends: list[TrackerBase] = field(default_factory=list)

    @staticmethod
    def run_from_env() -> AppRun:
        """The run of the job this process belongs to (``TORCHX_JOB_ID``).

        Outside a torchx job the id is ``<UNDEFINED>`` and nothing is recorded. When
        ``TORCHX_PARENT_RUN_ID`` is set the parent is recorded as this run's source.
        """
        run_id = os.environ.get(ENV_TORCHX_JOB_ID)
        if not run_id:
            return AppRun(UNDEFINED_RUN_ID, [])
        run = AppRun(run_id, trackers_from_environ())
        parent = os.environ.get(ENV_TORCHX_PARENT_RUN_ID)
        if parent:
            run.add_source(parent)
        return run

    def job_id(self) -> str:
        return self.id

    def add_metadata(self, **kwargs: object) -> None:
        for backend in self.backends:
            backend.add_metadata(self.id, **kwargs)

    def add_artifact(
        self, name: str, path: str, metadata: Mapping[str, object] | None = None
    ) -> None:
        for backend in self.backends:
            backend.add_artifact(self.id, name, path, metadata)

    def add_source(self, source_id: str, artifact_name: str | None = None) -> None:
        for backend in self.backends:
            backend.add_source(self.id, source_id, artifact_name)

    def sources(self) -> Iterable[TrackerSource]:
        """The sources recorded by the first tracker (they all hold the same)."""
        return self.backends[0].sources(self.id) if self.backends else []
