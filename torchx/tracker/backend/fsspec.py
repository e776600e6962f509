"""A tracker storing runs under any fsspec URL (a local path, ``memory://``, ``s3://`` ...).

Layout: ``<root>/<quoted run id>/{metadata,artifacts,sources}/<time>-<uuid>.json``. Every
record is a new file, so replicas writing at once never overwrite each other (no append or
locking needed on object stores); reads merge the records in time order, later keys winning.
Needs ``pip install 'torchx[fsspec]'``.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from torchx.tracker.api import (
    Lineage,
    TrackerArtifact,
    TrackerBase,
    TrackerSource,
    lineage_from_sources,
)

_KINDS = ("metadata", "artifacts", "sources")


def _fsspec() -> Any:
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        from torchx.specs.api import TorchXError

        raise TorchXError(
            "the fsspec tracker needs fsspec: pip install 'torchx[fsspec]'"
        ) from None
    return fsspec


class FsspecTracker(TrackerBase):
    """Runs, metadata, artifacts and lineage as JSON files under ``root_url``."""

    def __init__(self, root_url: str, **storage_options: Any) -> None:
        fs, root = _fsspec().core.url_to_fs(root_url, **storage_options)
        self._fs = fs
        self._root = root.rstrip("/") or "/"

    def _dir(self, run_id: str, kind: str | None = None) -> str:
        d = f"{self._root}/{urllib.parse.quote(run_id, safe='')}"
        return f"{d}/{kind}" if kind else d

    def _write(self, run_id: str, kind: str, record: Mapping[str, Any]) -> None:
        d = self._dir(run_id, kind)
        self._fs.makedirs(d, exist_ok=True)
        path = f"{d}/{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json"
        with self._fs.open(path, "w") as f:
            f.write(json.dumps(record, default=str))

    def _records(self, run_id: str, kind: str) -> list[dict[str, Any]]:
        d = self._dir(run_id, kind)
        if not self._fs.exists(d):
            return []
        records = []
        for path in sorted(self._fs.ls(d, detail=False)):
            if str(path).endswith(".json"):
                with self._fs.open(path, "r") as f:
                    records.append(json.loads(f.read()))
        return records

    def add_artifact(
        self, run_id: str, name: str, path: str, metadata: Mapping[str, object] | None = None
    ) -> None:
        self._write(run_id, "artifacts", {"name": name, "path": path,
                                          "metadata": dict(metadata) if metadata else None})

    def artifacts(self, run_id: str) -> Mapping[str, TrackerArtifact]:
        return {
            r["name"]: TrackerArtifact(r["name"], r["path"], r.get("metadata"))
            for r in self._records(run_id, "artifacts")
        }

    def add_metadata(self, run_id: str, **kwargs: object) -> None:
        self._write(run_id, "metadata", kwargs)

    def metadata(self, run_id: str) -> Mapping[str, object]:
        merged: dict[str, object] = {}
        for r in self._records(run_id, "metadata"):
            merged.update(r)
        return merged

    def add_source(self, run_id: str, source_id: str, artifact_name: str | None = None) -> None:
        self._write(run_id, "sources", {"source_run_id": source_id, "artifact_name": artifact_name})

    def sources(self, run_id: str, artifact_name: str | None = None) -> Iterable[TrackerSource]:
        seen: list[TrackerSource] = []
        for r in self._records(run_id, "sources"):
            src = TrackerSource(r["source_run_id"], r.get("artifact_name"))
            if (artifact_name is None or src.artifact_name == artifact_name) and src not in seen:
                seen.append(src)
        return seen

    def lineage(self, run_id: str) -> Lineage:
        return lineage_from_sources(self, run_id)

    def run_ids(self, **kwargs: str) -> Iterable[str]:
        """Every run id; ``parent_run_id=X`` keeps runs with source X, other keys match metadata."""
        if not self._fs.exists(self._root):
            return []
        parent = kwargs.pop("parent_run_id", None)
        ids = []
        for path in sorted(self._fs.ls(self._root, detail=False)):
            run_id = urllib.parse.unquote(str(path).rstrip("/").rsplit("/", 1)[-1])
            if parent is not None and parent not in {s.source_run_id for s in self.sources(run_id)}:
                continue
            if kwargs:
                md = self.metadata(run_id)
                if any(str(md.get(k)) != v for k, v in kwargs.items()):
                    continue
            ids.append(run_id)
        return ids


def create(config: str | None) -> FsspecTracker:
    """The ``fsspec`` tracker factory: ``config`` is the root URL (a directory path or URL)."""
    if not config:
        from torchx.specs.api import TorchXError

        raise TorchXError(
            "the fsspec tracker needs a root URL: set TORCHX_TRACKER_FSSPEC_CONFIG=/some/dir"
            " or `config = /some/dir` under [tracker:fsspec] in .torchxconfig"
        )
    return FsspecTracker(config)
