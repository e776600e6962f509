"""The MLflow tracker against real MLflow: a sqlite store in a temp dir, and once through
``mlflow server`` on loopback. What it records is checked through MLflow's own client.

Needs the ``mlflow`` package (``scripts/backends/mlflow.sh start`` installs it); CI requires it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import require
from torchx.tracker.api import (
    Lineage,
    TrackerArtifact,
    TrackerSource,
    get_tracker_factory,
    tracker_config,
)


def _has_mlflow() -> tuple[bool, str]:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return False, "mlflow is not installed (scripts/backends/mlflow.sh start installs it)"
    return True, ""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    require("mlflow", *_has_mlflow())
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root}/mlflow.db"


@pytest.fixture
def tracker(store: str) -> Any:
    from torchx.tracker.mlflow import MLflowTracker

    return MLflowTracker(f"exp-{uuid.uuid4().hex[:8]}", tracking_uri=store)


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _live_runs(t: Any, run_id: str) -> list[Any]:
    """The MLflow runs carrying torchx run ``run_id``, as MLflow's client sees them."""
    runs = _client(t.tracking_uri).search_runs([t.experiment_id])
    return [r for r in runs if r.data.tags.get("torchx.run_id") == run_id]


def test_metadata_are_params_and_round_trip(tracker: Any) -> None:
    rid = "local_cwd://torchx/job-1"
    tracker.add_metadata(rid, lr=0.5, epochs=3, name="resnet", flags={"amp": True}, ok=False)
    assert tracker.metadata(rid) == {"lr": 0.5, "epochs": 3, "name": "resnet",
                                     "flags": {"amp": True}, "ok": False}
    [run] = _live_runs(tracker, rid)
    assert run.data.params == {"lr": "0.5", "epochs": "3", "name": "resnet",
                               "flags": '{"amp": true}', "ok": "false"}
    assert run.info.run_name == rid


def test_changed_and_long_values_become_tags(tracker: Any) -> None:
    rid = "slurm://torchx/42"
    tracker.add_metadata(rid, lr=0.5)
    tracker.add_metadata(rid, lr=0.1, blob="x" * 7000)  # params are immutable; 7000 > param limit
    assert tracker.metadata(rid) == {"lr": 0.1, "blob": "x" * 7000}
    [run] = _live_runs(tracker, rid)
    assert run.data.params == {"lr": "0.5"}  # the first value stays the param, as MLflow demands
    assert run.data.tags["torchx.metadata.lr"] == "0.1"
    assert json.loads(run.data.tags["torchx.metadata.blob"]) == "x" * 7000


def test_artifacts_sources_lineage(tracker: Any) -> None:
    parent, child = "exp://parent", "local_cwd://torchx/child-1"
    tracker.add_artifact(child, "model", "s3://b/m.pt", {"acc": 0.9})
    tracker.add_artifact(child, "odd name/with 'quotes'", "/tmp/x")
    tracker.add_source(child, parent)
    tracker.add_source(child, parent)  # recorded once
    tracker.add_source(child, "exp://other", "ckpt")
    tracker.add_source(parent, "exp://root")
    assert tracker.artifacts(child) == {
        "model": TrackerArtifact("model", "s3://b/m.pt", {"acc": 0.9}),
        "odd name/with 'quotes'": TrackerArtifact("odd name/with 'quotes'", "/tmp/x", None),
    }
    assert sorted(tracker.sources(child), key=lambda s: s.source_run_id) == [
        TrackerSource("exp://other", "ckpt"), TrackerSource(parent, None)]
    assert list(tracker.sources(child, "ckpt")) == [TrackerSource("exp://other", "ckpt")]
    lin = tracker.lineage(child)
    assert lin.run_id == child and len(lin.parents) == 2
    by_id = {p.run_id: p for p in lin.parents}
    assert by_id[parent].parents == [Lineage("exp://root", [], [])]


def test_run_ids_filters_and_hostile_ids(tracker: Any) -> None:
    ids = ["a://s/1", "b://s/it's \"quoted\" ` $(x)", "c://s/ünï"]
    for i, rid in enumerate(ids):
        tracker.add_metadata(rid, idx=i, kind="even" if i % 2 == 0 else "odd")
    tracker.add_source(ids[2], "exp://p")
    assert list(tracker.run_ids()) == ids
    assert list(tracker.run_ids(parent_run_id="exp://p")) == [ids[2]]
    assert list(tracker.run_ids(kind="even")) == [ids[0], ids[2]]
    assert list(tracker.run_ids(idx="1")) == [ids[1]]
    assert tracker.metadata(ids[1]) == {"idx": 1, "kind": "odd"}
    assert tracker.metadata("never://recorded") == {}
    assert tracker.artifacts("never://recorded") == {}


def test_found_again_by_tag_from_a_new_tracker(store: str) -> None:
    from torchx.tracker.mlflow import MLflowTracker

    exp = f"exp-{uuid.uuid4().hex[:8]}"
    MLflowTracker(exp, tracking_uri=store).add_metadata("r://1", a=1)
    second = MLflowTracker(exp, tracking_uri=store)  # no shared state but the store
    second.add_metadata("r://1", b=2)
    assert second.metadata("r://1") == {"a": 1, "b": 2}
    assert len(_live_runs(second, "r://1")) == 1


_REPLICA = """
import sys
from torchx.tracker.mlflow import MLflowTracker
t = MLflowTracker(sys.argv[1], tracking_uri=sys.argv[2])
i = int(sys.argv[3])
for n in range(5):
    t.add_metadata("job://concurrent", **{f"r{i}_{n}": n})
t.add_artifact("job://concurrent", f"ckpt-{i}", f"/ckpt/{i}")
"""


def test_replicas_recording_at_once_lose_nothing(store: str) -> None:
    from torchx.tracker.mlflow import MLflowTracker

    exp = f"exp-{uuid.uuid4().hex[:8]}"
    MLflowTracker(exp, tracking_uri=store)  # the experiment exists; the run does not yet
    procs = [subprocess.Popen([sys.executable, "-c", _REPLICA, exp, store, str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out
    t = MLflowTracker(exp, tracking_uri=store)
    assert t.metadata("job://concurrent") == {f"r{i}_{n}": n for i in range(4) for n in range(5)}
    assert sorted(t.artifacts("job://concurrent")) == [f"ckpt-{i}" for i in range(4)]
    assert list(t.run_ids()) == ["job://concurrent"]


def test_a_write_to_a_run_merged_away_goes_to_the_run_that_stayed(tracker: Any) -> None:
    """The race CI once hit, played step by step: a replica finds the run, another replica's
    older run then wins and this one is merged away, and only then does the write arrive."""
    from torchx.tracker.mlflow import _key

    rid, client = "job://merged", _client(tracker.tracking_uri)
    tags = {"torchx.run_id": rid, "torchx.run_key": _key(rid)}
    tracker.add_metadata(rid, before=1)
    [loser] = _live_runs(tracker, rid)
    winner = client.create_run(tracker.experiment_id, start_time=1, tags=tags)  # older
    client.set_tag(loser.info.run_id, "torchx.merged_into", winner.info.run_id)
    client.delete_run(loser.info.run_id)  # what the loser's creator does on seeing the winner
    resolve = tracker._run_for_write
    stale = iter([loser, loser])  # both writes found the run just before it was merged away
    tracker._run_for_write = lambda run_id: next(stale, None) or resolve(run_id)

    tracker.add_metadata(rid, after=2)
    tracker.add_artifact(rid, "ckpt", "/ckpt/1")

    assert tracker.metadata(rid) == {"before": 1, "after": 2}
    assert list(tracker.artifacts(rid)) == ["ckpt"]
    assert [r.info.run_id for r in _live_runs(tracker, rid)] == [winner.info.run_id]
    assert list(tracker.run_ids()) == [rid]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require("mlflow", *_has_mlflow())
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
    proc = subprocess.Popen(
        [mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{root}/db.sqlite",
         "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=open(root / "server.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # ~12 s on a quiet machine; minutes under load
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("mlflow server did not start:\n" + (root / "server.log").read_text()[-2000:])
        time.sleep(0.3)
    yield url
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_through_mlflow_server(server: str) -> None:
    from torchx.tracker.mlflow import MLflowTracker

    t = MLflowTracker("over-http", tracking_uri=server)
    t.add_metadata("k8s://ns:job", lr=0.01)
    t.add_artifact("k8s://ns:job", "model", "s3://m")
    [run] = _live_runs(t, "k8s://ns:job")
    assert run.data.params == {"lr": "0.01"}
    assert MLflowTracker("over-http", tracking_uri=server).metadata("k8s://ns:job") == {"lr": 0.01}


def test_builtin_name_and_config(store: str, monkeypatch: pytest.MonkeyPatch,
                                 tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCHX_TRACKERS", raising=False)
    monkeypatch.delenv("TORCHXCONFIG", raising=False)
    (tmp_path / ".torchxconfig").write_text(
        f"[torchx:tracker]\nmlflow =\n\n[tracker:mlflow]\nconfig = {store}\n")
    assert tracker_config() == {"mlflow": store}
    t = get_tracker_factory("mlflow")(
        f"tracking_uri={store},experiment_name=cfg-exp")
    assert (t.tracking_uri, t.experiment_name) == (store, "cfg-exp")


def test_job_records_through_env_and_cli_reads_back(store: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(
        "import os\n"
        "os.chdir('/')\n"
        "from torchx.tracker import app_run_from_env\n"
        "r = app_run_from_env()\n"
        "r.add_metadata(lr=0.5, replica=os.environ.get('TORCHX_REPLICA_ID', '?'))\n"
        "r.add_artifact('model', '/m.pt', {'acc': 1})\n"
    )
    exp = f"cli-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHX_", "MLFLOW_"))}
    env.update(TORCHX_HOME=str(tmp_path / "home"), HOME=str(tmp_path), TORCHX_TRACKERS="mlflow",
               TORCHX_TRACKER_MLFLOW_CONFIG=f"tracking_uri={store},experiment_name={exp}")

    def torchx(*args: str) -> str:
        p = subprocess.run([sys.executable, "-m", "torchx", *args], cwd=work, env=env,
                           capture_output=True, text=True, timeout=240)
        assert p.returncode == 0, f"torchx {args}: {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    handle = torchx("run", "--parent_run_id", "exp://p", "utils.python",
                    "--script", "job.py").splitlines()[0]
    assert json.loads(torchx("tracker", "--json", "list", "jobs")) == [handle]
    assert torchx("tracker", "list", "jobs", "--parent-run-id", "exp://p").split() == [handle]
    md = json.loads(torchx("tracker", "--json", "list", "metadata", handle))
    assert md["lr"] == 0.5
    arts = json.loads(torchx("tracker", "--json", "list", "artifacts", handle))
    assert arts == {"model": {"path": "/m.pt", "metadata": {"acc": 1}}}
    from torchx.tracker.mlflow import MLflowTracker

    [run] = _live_runs(MLflowTracker(exp, tracking_uri=store), handle)
    assert run.data.params["lr"] == "0.5"


def test_missing_mlflow_is_one_line(tmp_path: Path) -> None:
    """Without mlflow importable, building the tracker names the extra; importing the module
    (what `torchx tracker --help` and the launcher do) never imports mlflow."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "mlflow.py").write_text("raise ImportError('no mlflow here')\n")
    code = (
        "import sys\n"
        "import torchx.tracker.mlflow as m\n"
        "assert 'mlflow' not in sys.modules\n"
        "try:\n"
        "    m.create('sqlite:///x.db')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(shadow)})
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (
        "TorchXError the mlflow tracker needs mlflow: pip install 'torchx[mlflow]'")


def test_config_strings() -> None:
    from torchx.specs.api import TorchXError
    from torchx.tracker.mlflow import parse_config

    assert parse_config(None) == {} and parse_config(" ") == {}
    assert parse_config("http://127.0.0.1:5000") == {"tracking_uri": "http://127.0.0.1:5000"}
    assert parse_config("tracking_uri=sqlite:///a.db, experiment_name=e") == {
        "tracking_uri": "sqlite:///a.db", "experiment_name": "e"}
    with pytest.raises(TorchXError, match="unknown entry `experiment=e`"):
        parse_config("tracking_uri=x,experiment=e")
