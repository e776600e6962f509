"""Tracker activation (environment beats .torchxconfig), AppRun, the fsspec tracker and
the runtime result tracker, on a real local directory and fsspec's memory filesystem."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchx.runtime.tracking import FsspecResultTracker
from torchx.tracker.api import (
    AppRun,
    Lineage,
    TrackerArtifact,
    TrackerBase,
    TrackerSource,
    UnknownTrackerException,
    get_tracker_factory,
    tracker_config,
    tracker_env,
)
from torchx.tracker.backend.fsspec import FsspecTracker, create


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("TORCHX_TRACKERS", "TORCHX_TRACKER_FSSPEC_CONFIG", "TORCHX_TRACKER_MY_T_CONFIG",
                "TORCHX_JOB_ID", "TORCHX_PARENT_RUN_ID", "TORCHXCONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["dir", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "dir":
        yield str(tmp_path / "tracker")
    else:
        url = f"memory://t-{uuid.uuid4().hex}"
        yield url
        import fsspec

        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


def test_nothing_active_by_default() -> None:
    assert tracker_env() == {}
    assert tracker_config() == {}


def test_activation_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_TRACKERS", "my-t, fsspec")
    monkeypatch.setenv("TORCHX_TRACKER_MY_T_CONFIG", "db://x")
    monkeypatch.setenv("TORCHX_TRACKER_FSSPEC_CONFIG", "/tmp/t")
    assert tracker_env() == {
        "TORCHX_TRACKERS": "my-t,fsspec",
        "TORCHX_TRACKER_MY_T_CONFIG": "db://x",
        "TORCHX_TRACKER_FSSPEC_CONFIG": "/tmp/t",
    }


def test_activation_by_file_and_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".torchxconfig").write_text(
        "[torchx:tracker]\nfsspec =\nmy-t =\n[tracker:fsspec]\nconfig = /from/file\n"
    )
    assert tracker_config() == {"fsspec": "/from/file", "my-t": None}
    monkeypatch.setenv("TORCHX_TRACKER_FSSPEC_CONFIG", "/from/env")
    assert tracker_env() == {"TORCHX_TRACKERS": "fsspec,my-t",
                             "TORCHX_TRACKER_FSSPEC_CONFIG": "/from/env"}
    monkeypatch.setenv("TORCHX_TRACKERS", "fsspec")
    assert tracker_config() == {"fsspec": "/from/env"}
    monkeypatch.setenv("TORCHX_TRACKERS", "")
    assert tracker_env() == {}


def test_unknown_tracker_suggests() -> None:
    with pytest.raises(UnknownTrackerException, match="Did you mean `fsspec`"):
        get_tracker_factory("fspec")


def test_fsspec_tracker_round_trip(root: str) -> None:
    t = FsspecTracker(root)
    assert isinstance(t, TrackerBase)
    assert list(t.run_ids()) == []
    run, parent = "local_cwd://torchx/train-1", "local_cwd://torchx/prep-0"
    t.add_metadata(run, lr=0.1, epochs=2)
    t.add_metadata(run, epochs=3)
    t.add_artifact(run, "model", "s3://b/model.pt", {"acc": 0.9})
    t.add_artifact(run, "log", "/tmp/log.txt")
    t.add_source(run, parent, "dataset")
    t.add_source(run, parent, "dataset")
    t.add_metadata(parent, kind="prep")
    assert t.metadata(run) == {"lr": 0.1, "epochs": 3}
    assert t.artifacts(run) == {
        "model": TrackerArtifact("model", "s3://b/model.pt", {"acc": 0.9}),
        "log": TrackerArtifact("log", "/tmp/log.txt", None),
    }
    assert list(t.sources(run)) == [TrackerSource(parent, "dataset")]
    assert list(t.sources(run, artifact_name="other")) == []
    assert sorted(t.run_ids()) == sorted([run, parent])
    assert list(t.run_ids(parent_run_id=parent)) == [run]
    assert list(t.run_ids(kind="prep")) == [parent]
    assert t.lineage(run) == Lineage(run, [TrackerSource(parent, "dataset")], [Lineage(parent)])


def test_lineage_cycles_terminate(root: str) -> None:
    t = FsspecTracker(root)
    t.add_source("a", "b")
    t.add_source("b", "a")
    lin = t.lineage("a")
    assert lin.parents[0].run_id == "b" and lin.parents[0].parents == []


def test_create_needs_a_root() -> None:
    from torchx.specs.api import TorchXError

    with pytest.raises(TorchXError, match="TORCHX_TRACKER_FSSPEC_CONFIG"):
        create(None)


def test_app_run_from_env(monkeypatch: pytest.MonkeyPatch, root: str) -> None:
    outside = AppRun.run_from_env()
    assert outside.id == "<UNDEFINED>" and outside.backends == []
    outside.add_metadata(x=1)  # recording outside a job is a no-op
    monkeypatch.setenv("TORCHX_JOB_ID", "local_cwd://torchx/j-1")
    monkeypatch.setenv("TORCHX_PARENT_RUN_ID", "local_cwd://torchx/p-0")
    monkeypatch.setenv("TORCHX_TRACKERS", "fsspec")
    monkeypatch.setenv("TORCHX_TRACKER_FSSPEC_CONFIG", root)
    run = AppRun.run_from_env()
    assert run.job_id() == "local_cwd://torchx/j-1" and len(run.backends) == 1
    run.add_metadata(loss=0.5)
    run.add_artifact("ckpt", "/c")
    assert list(run.sources()) == [TrackerSource("local_cwd://torchx/p-0", None)]
    t = FsspecTracker(root)
    assert t.metadata("local_cwd://torchx/j-1") == {"loss": 0.5}
    assert t.artifacts("local_cwd://torchx/j-1")["ckpt"].path == "/c"


def test_broken_tracker_is_skipped(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TORCHX_JOB_ID", "h")
    monkeypatch.setenv("TORCHX_TRACKERS", "nosuch,fsspec")  # fsspec without config fails too
    run = AppRun.run_from_env()
    assert run.backends == []
    assert "skipping tracker `nosuch`" in caplog.text and "skipping tracker `fsspec`" in caplog.text


def test_result_tracker(root: str) -> None:
    rt = FsspecResultTracker(root)
    rt["trial-1"] = {"loss": 0.25, "name": "a"}
    rt[2] = {"loss": 1}
    assert FsspecResultTracker(root)["trial-1"] == {"loss": 0.25, "name": "a"}
    assert rt.get("2") == {"loss": 1}
    with pytest.raises(KeyError, match="no results for `missing`"):
        rt["missing"]
