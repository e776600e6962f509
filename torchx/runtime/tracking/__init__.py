"""Record results from inside a job: ``FsspecResultTracker(url)[key] = {"metric": 0.9}``.

Each key is one JSON file ``<url>/<key>.json`` holding a flat dict of numbers and strings;
a later write of a key replaces it. Used by ``utils.booth`` to report the evaluated value.
"""

from __future__ import annotations

import abc
import json
from typing import Any

ResultValue = str | int | float


class ResultTracker(abc.ABC):
    """A key -> dict-of-results store: ``tracker[key] = {...}``, ``tracker[key]``."""

    def __getitem__(self, key: object) -> dict[str, ResultValue]:
        return self.get(str(key))

    def __setitem__(self, key: object, value: dict[str, ResultValue]) -> None:
        self.put(str(key), value)

    @abc.abstractmethod
    def put(self, key: str, value: dict[str, ResultValue]) -> None: ...

    @abc.abstractmethod
    def get(self, key: str) -> dict[str, ResultValue]:
        """The results of ``key``; KeyError when there are none."""


class FsspecResultTracker(ResultTracker):
    """Results as JSON files under any fsspec URL (needs ``pip install 'torchx[fsspec]'``)."""

    def __init__(self, tracker_base: str) -> None:
        self.tracker_base = tracker_base.rstrip("/")

    def _fs(self, key: str) -> tuple[Any, str]:
        try:
            import fsspec  # type: ignore[import-untyped]
        except ImportError:
            from torchx.specs.api import TorchXError

            raise TorchXError("FsspecResultTracker needs fsspec: pip install 'torchx[fsspec]'") from None
        fs, path = fsspec.core.url_to_fs(f"{self.tracker_base}/{key}.json")
        return fs, path

    def put(self, key: str, value: dict[str, ResultValue]) -> None:
        fs, path = self._fs(key)
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(path, "w") as f:
            f.write(json.dumps(value))

    def get(self, key: str) -> dict[str, ResultValue]:
        fs, path = self._fs(key)
        if not fs.exists(path):
            raise KeyError(f"no results for `{key}` under `{self.tracker_base}`")
        with fs.open(path, "r") as f:
            data: dict[str, ResultValue] = json.loads(f.read())
        return data


__all__ = ["FsspecResultTracker", "ResultTracker", "ResultValue"]
