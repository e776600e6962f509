"""A tracker recording torchx runs in MLflow (``pip install 'torchx[mlflow]'``).

One MLflow run per torchx run id, found again by tags (never by a cache in the process), so
every replica of a job, the launcher and a later ``torchx tracker list`` meet the same run:

- ``torchx.run_id`` holds the torchx run id (the job handle), ``torchx.run_key`` its SHA-256
  (a value that is always safe inside an MLflow search filter);
- metadata goes to MLflow params (what the MLflow UI shows and compares), and, as the record
  torchx reads back, to a ``torchx.metadata.<key>`` tag holding the JSON value; a value MLflow
  cannot take as a param (too long, or a change of a param already logged: params are
  immutable) lives in the tag alone;
- artifacts are named entries ``torchx.artifact.<hash>`` -> ``{"name", "path", "metadata"}``
  (a path is a reference, nothing is uploaded); sources are ``torchx.source.<hash>`` tags.

Replicas recording at once lose nothing: every write is a tag or param of its own key, and when
two replicas both create the run at the same moment, the later one steps aside for the earlier:
it is tagged ``torchx.merged_into`` and deleted. Reads merge every live run carrying the key and
every run merged away, so what a replica wrote before the merge is kept; a write that finds its
run merged away goes again to the run that stayed.
``mlflow`` is imported only when a tracker is built (it takes seconds to import).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

from torchx.tracker.api import (
    Lineage,
    TrackerArtifact,
    TrackerBase,
    TrackerSource,
    lineage_from_sources,
)

ENV_EXPERIMENT_NAME = "TORCHX_TRACKING_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "torchx"
TAG_RUN_ID = "torchx.run_id"
TAG_RUN_KEY = "torchx.run_key"
TAG_METADATA = "torchx.metadata."
TAG_ARTIFACT = "torchx.artifact."
TAG_SOURCE = "torchx.source."
TAG_MERGED_INTO = "torchx.merged_into"
MAX_PARAM_LENGTH = 6000  # MLflow 2.x and 3.x accept at least this many characters in a param
_PAGE = 1000


def _mlflow() -> Any:
    try:
        import mlflow  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        from torchx.specs.api import TorchXError

        raise TorchXError(
            "the mlflow tracker needs mlflow: pip install 'torchx[mlflow]'"
        ) from None
    return mlflow


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else a sqlite store under the temp dir shared by this user."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = os.path.join(tempfile.gettempdir(), f"torchx-{getpass.getuser()}")
    os.makedirs(root, exist_ok=True)
    return f"sqlite:///{root}/mlflow.db"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _retrying(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call an MLflow client method, retrying transient store errors (a locked sqlite file)."""
    for attempt in range(8):
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if "locked" not in str(e) and "busy" not in str(e).lower() or attempt == 7:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


class MLflowTracker(TrackerBase):
    """Records torchx runs in the MLflow experiment ``experiment_name`` at ``tracking_uri``."""

    def __init__(
        self,
        experiment_name: str | None = None,
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        mlflow = _mlflow()
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.experiment_name = (
            experiment_name or os.environ.get(ENV_EXPERIMENT_NAME) or DEFAULT_EXPERIMENT
        )
        self._client = mlflow.tracking.MlflowClient(tracking_uri=self.tracking_uri)
        self._exception = mlflow.exceptions.MlflowException
        self.experiment_id = self._experiment(artifact_location)

    # ---- finding things

    def _experiment(self, artifact_location: str | None) -> str:
        exp = _retrying(self._client.get_experiment_by_name, self.experiment_name)
        if exp is not None:
            return str(exp.experiment_id)
        try:
            return str(_retrying(self._client.create_experiment, self.experiment_name,
                                 artifact_location=artifact_location))
        except self._exception:  # another replica created it first
            exp = _retrying(self._client.get_experiment_by_name, self.experiment_name)
            if exp is None:
                raise
            return str(exp.experiment_id)

    def _search(self, filter_string: str) -> list[Any]:
        """The runs matching ``filter_string``: live ones, and deleted ones merged away."""
        all_runs = _mlflow().entities.ViewType.ALL
        runs: list[Any] = []
        token = None
        while True:
            page = _retrying(self._client.search_runs, [self.experiment_id], filter_string,
                             run_view_type=all_runs, max_results=_PAGE, page_token=token)
            runs.extend(r for r in page if _live(r) or TAG_MERGED_INTO in r.data.tags)
            token = page.token
            if not token:
                return runs

    def _runs(self, run_id: str) -> list[Any]:
        """The runs of torchx run ``run_id``: live ones oldest (canonical) first, then merged."""
        runs = self._search(f"tags.`{TAG_RUN_KEY}` = '{_key(run_id)}'")
        return sorted(runs, key=_precedence)

    def _run_for_write(self, run_id: str) -> Any:
        """The live MLflow run to record into (with its data as found), created on first use."""
        live = [r for r in self._runs(run_id) if _live(r)]
        if live:
            return live[0]
        created = _retrying(
            self._client.create_run, self.experiment_id, run_name=run_id[-250:],
            tags={TAG_RUN_ID: run_id, TAG_RUN_KEY: _key(run_id)},
        )
        live = [r for r in self._runs(run_id) if _live(r)]
        first = live[0] if live else created
        if first.info.run_id != created.info.run_id:
            # another replica created it at the same moment: step aside for the older one
            _retrying(self._client.set_tag, created.info.run_id, TAG_MERGED_INTO,
                      first.info.run_id)
            _retrying(self._client.delete_run, created.info.run_id)
        return first

    def _write(self, run_id: str, write: Any) -> None:
        """``write(run)`` into the live run of ``run_id``, again into the run that stayed if
        the one found was merged away meanwhile."""
        for attempt in range(5):
            run = self._run_for_write(run_id)
            try:
                write(run)
                return
            except self._exception:
                if attempt == 4 or not self._merged_away(run):
                    raise

    def _merged_away(self, run: Any) -> bool:
        return not _live(_retrying(self._client.get_run, run.info.run_id))

    def _tags(self, run_id: str) -> dict[str, str]:
        """The tags of every run of ``run_id``, the canonical run's winning."""
        return self._tags_of(self._runs(run_id))

    # ---- metadata

    def add_metadata(self, run_id: str, **kwargs: object) -> None:
        if not kwargs:
            return
        entities = _mlflow().entities
        tags = [entities.RunTag(TAG_METADATA + k, json.dumps(v, default=str))
                for k, v in kwargs.items()]

        def write(run: Any) -> None:
            params = []
            for k, v in kwargs.items():
                text = v if isinstance(v, str) else json.dumps(v, default=str)
                if k not in run.data.params and len(text) <= MAX_PARAM_LENGTH:
                    params.append(entities.Param(k, text))
            try:
                _retrying(self._client.log_batch, run.info.run_id, params=params, tags=tags)
            except self._exception:
                if not params or self._merged_away(run):
                    raise
                # a replica logged one of these params first (params are immutable): the tags
                # alone hold the values
                _retrying(self._client.log_batch, run.info.run_id, tags=tags)

        self._write(run_id, write)

    def metadata(self, run_id: str) -> Mapping[str, object]:
        out: dict[str, object] = {}
        runs = self._runs(run_id)
        for run in reversed(runs):
            out.update(run.data.params)
        for key, value in self._tags_of(runs).items():
            if key.startswith(TAG_METADATA):
                try:
                    out[key[len(TAG_METADATA):]] = json.loads(value)
                except ValueError:
                    out[key[len(TAG_METADATA):]] = value
        return out

    @staticmethod
    def _tags_of(runs: list[Any]) -> dict[str, str]:
        merged: dict[str, str] = {}
        for run in reversed(runs):
            merged.update(run.data.tags)
        return merged

    # ---- artifacts

    def add_artifact(
        self, run_id: str, name: str, path: str, metadata: Mapping[str, object] | None = None
    ) -> None:
        record = {"name": name, "path": path, "metadata": dict(metadata) if metadata else None}
        value = json.dumps(record, default=str)
        self._write(run_id, lambda run: _retrying(
            self._client.set_tag, run.info.run_id, TAG_ARTIFACT + _key(name), value))

    def artifacts(self, run_id: str) -> Mapping[str, TrackerArtifact]:
        out: dict[str, TrackerArtifact] = {}
        for key, value in sorted(self._tags(run_id).items()):
            if key.startswith(TAG_ARTIFACT):
                r = json.loads(value)
                out[r["name"]] = TrackerArtifact(r["name"], r["path"], r.get("metadata"))
        return out

    # ---- sources and lineage

    def add_source(self, run_id: str, source_id: str, artifact_name: str | None = None) -> None:
        record = {"source_run_id": source_id, "artifact_name": artifact_name}
        key = TAG_SOURCE + _key(json.dumps(record, sort_keys=True))
        self._write(run_id, lambda run: _retrying(
            self._client.set_tag, run.info.run_id, key, json.dumps(record)))

    def sources(self, run_id: str, artifact_name: str | None = None) -> Iterable[TrackerSource]:
        return self._sources_in(self._tags(run_id), artifact_name)

    @staticmethod
    def _sources_in(tags: Mapping[str, str], artifact_name: str | None = None
                    ) -> list[TrackerSource]:
        found = []
        for key, value in sorted(tags.items()):
            if key.startswith(TAG_SOURCE):
                r = json.loads(value)
                src = TrackerSource(r["source_run_id"], r.get("artifact_name"))
                if artifact_name is None or src.artifact_name == artifact_name:
                    found.append(src)
        return found

    def lineage(self, run_id: str) -> Lineage:
        return lineage_from_sources(self, run_id)

    # ---- listing

    def run_ids(self, **kwargs: str) -> Iterable[str]:
        """Every torchx run id in the experiment, oldest first; ``parent_run_id=X`` keeps the
        runs with source X, other keys match metadata (compared as strings)."""
        parent = kwargs.pop("parent_run_id", None)
        by_id: dict[str, list[Any]] = {}
        runs = self._search(f"tags.`{TAG_RUN_KEY}` != ''")
        for run in sorted(runs, key=_precedence):
            rid = run.data.tags.get(TAG_RUN_ID)
            if rid is not None:
                by_id.setdefault(rid, []).append(run)
        ids = []
        for rid, rid_runs in by_id.items():
            tags = self._tags_of(rid_runs)
            if parent is not None and parent not in {
                s.source_run_id for s in self._sources_in(tags)
            }:
                continue
            if kwargs:
                md = self.metadata(rid)
                if any(_as_text(md.get(k)) != v for k, v in kwargs.items()):
                    continue
            ids.append(rid)
        return ids


def _live(run: Any) -> bool:
    return bool(run.info.lifecycle_stage == "active")


def _precedence(run: Any) -> tuple[bool, int, str]:
    """Live runs before merged ones, each oldest first: the first live run is canonical."""
    return (not _live(run), run.info.start_time or 0, run.info.run_id)


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def parse_config(config: str | None) -> dict[str, str]:
    """``config`` is a tracking URI, or ``key=value`` pairs joined by ``,`` with the keys
    ``tracking_uri``, ``experiment_name`` and ``artifact_location``."""
    if not config or not config.strip():
        return {}
    text = config.strip()
    keys = ("tracking_uri", "experiment_name", "artifact_location")
    if not any(text.startswith(k + "=") for k in keys):
        return {"tracking_uri": text}
    out: dict[str, str] = {}
    for part in text.split(","):
        k, sep, v = part.partition("=")
        k = k.strip()
        if not sep or k not in keys:
            from torchx.specs.api import TorchXError

            raise TorchXError(
                f"mlflow tracker config: unknown entry `{part.strip()}`; use a tracking URI or"
                f" {', '.join(k + '=...' for k in keys)} joined by commas"
            )
        out[k] = v.strip()
    return out


def create(config: str | None) -> MLflowTracker:
    """The ``mlflow`` tracker factory (``TORCHX_TRACKER_MLFLOW_CONFIG`` or ``[tracker:mlflow]``)."""
    return MLflowTracker(**parse_config(config))
