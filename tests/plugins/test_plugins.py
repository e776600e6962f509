"""Install a throwaway plugin package with pip into a temporary virtualenv and exercise all
five entry-point groups exactly as advanced.rst shows: schedulers, named resources (and
TORCHX_CUSTOM_NAMED_RESOURCES), components (custom groups replace the builtins, ``torchx =``
re-adds them, overlapping groups, ``_`` aliases), trackers (activated by environment and by
.torchxconfig) and CLI commands (a new one, one replacing a builtin, a broken one)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

FILES = {
    "my_project/__init__.py": "",
    "my_project/bar/__init__.py": "",
    "my_project/bar/baz.py": '''
        import torchx.specs as specs


        def trainer(name: str = "trainer") -> specs.AppDef:
            """Echoes its name.

            Args:
                name: what to echo
            """
            return specs.AppDef(name="trainer", roles=[
                specs.Role(name="trainer", image="none", entrypoint="echo", args=[name])
            ])
    ''',
    "my_module/__init__.py": "",
    "my_module/resources.py": '''
        from torchx.specs import Resource


        def gpu_x2() -> Resource:
            return Resource(cpu=16, gpu=2, memMB=122_000)
    ''',
    "my/__init__.py": "",
    "my/custom/__init__.py": "",
    "my/custom/scheduler.py": '''
        import json
        import os
        import uuid

        from torchx.schedulers import Scheduler
        from torchx.schedulers.api import DescribeAppResponse, ListAppResponse
        from torchx.specs import AppDryRunInfo, AppState, runopts


        class MyScheduler(Scheduler):
            """Records submitted apps as JSON files in -cfg dir=...; they succeed at once."""

            def __init__(self, session_name, **kwargs):
                super().__init__("my_scheduler", session_name)

            def _run_opts(self):
                opts = runopts()
                opts.add("dir", str, "where submitted apps are recorded", required=True)
                return opts

            def _submit_dryrun(self, app, cfg):
                req = {"dir": cfg["dir"], "name": app.name,
                       "cmd": [[r.entrypoint, *r.args] for r in app.roles]}
                return AppDryRunInfo(req, lambda r: "MY REQUEST " + json.dumps(r))

            def schedule(self, dryrun_info):
                req = dryrun_info.request
                app_id = f"{req['name']}-{uuid.uuid4().hex[:6]}"
                os.makedirs(req["dir"], exist_ok=True)
                with open(os.path.join(req["dir"], app_id + ".json"), "w") as f:
                    json.dump(req, f)
                with open(os.path.expanduser("~/my_scheduler_dir"), "w") as f:
                    f.write(req["dir"])
                return app_id

            def _dir(self):
                with open(os.path.expanduser("~/my_scheduler_dir")) as f:
                    return f.read()

            def describe(self, app_id):
                if not os.path.exists(os.path.join(self._dir(), app_id + ".json")):
                    return None
                return DescribeAppResponse(app_id=app_id, state=AppState.SUCCEEDED, msg="")

            def list(self, cfg=None):
                return [ListAppResponse(n[:-5], AppState.SUCCEEDED,
                                        f"my_scheduler://{self.session_name}/{n[:-5]}")
                        for n in sorted(os.listdir(self._dir()))]

            def _cancel_existing(self, app_id):
                pass

            def log_iter(self, app_id, role_name, k=0, regex=None, since=None, until=None,
                         should_tail=False, streams=None):
                return iter([f"{role_name}/{k} says hi from my_scheduler\\n"])


        def create_scheduler(session_name: str, **kwargs: object) -> Scheduler:
            return MyScheduler(session_name, **kwargs)
    ''',
    "my_package/__init__.py": "",
    "my_package/tracking.py": '''
        import json

        from torchx.tracker.api import Lineage, TrackerBase, TrackerSource


        class MyTracker(TrackerBase):
            """Appends every record as a JSON line to the file named by the config."""

            def __init__(self, connection_str: str) -> None:
                self._conn = connection_str

            def _add(self, **rec):
                with open(self._conn, "a") as f:
                    f.write(json.dumps(rec) + "\\n")

            def _all(self):
                try:
                    with open(self._conn) as f:
                        return [json.loads(line) for line in f]
                except FileNotFoundError:
                    return []

            def add_artifact(self, run_id, name, path, metadata=None):
                self._add(run=run_id, artifact=name, path=path)

            def artifacts(self, run_id):
                return {}

            def add_metadata(self, run_id, **kwargs):
                self._add(run=run_id, metadata=kwargs)

            def metadata(self, run_id):
                out = {}
                for r in self._all():
                    if r["run"] == run_id and "metadata" in r:
                        out.update(r["metadata"])
                return out

            def add_source(self, run_id, source_id, artifact_name=None):
                self._add(run=run_id, source=source_id)

            def sources(self, run_id, artifact_name=None):
                return [TrackerSource(r["source"]) for r in self._all()
                        if r["run"] == run_id and "source" in r]

            def lineage(self, run_id):
                return Lineage(run_id)

            def run_ids(self, **kwargs):
                return sorted({r["run"] for r in self._all()})


        def create(config: str | None) -> TrackerBase:
            return MyTracker(connection_str=config or "default://localhost")
    ''',
    "my_package/cli.py": '''
        import argparse

        from torchx.cli.cmd_base import SubCommand


        class CmdMyTool(SubCommand):
            def add_arguments(self, subparser: argparse.ArgumentParser) -> None:
                """Register CLI flags and positional arguments."""
                subparser.add_argument("--config", type=str, help="Path to config file")
                subparser.add_argument("app_id", type=str, help="Application handle")

            def run(self, args: argparse.Namespace) -> None:
                """Execute the command with parsed arguments."""
                print(f"Running my_tool on {args.app_id} with config={args.config}")


        class CmdList(SubCommand):
            def add_arguments(self, subparser):
                subparser.add_argument("-s", "--scheduler", default=None)

            def run(self, args):
                print("plugin list replaced the builtin")
    ''',
    "my_package/broken.py": '''
        raise ImportError("this plugin is broken on purpose")
    ''',
}

BASE_EPS = {
    "torchx.schedulers": ["my_scheduler = my.custom.scheduler:create_scheduler",
                          "local_docker = my.custom.scheduler:create_scheduler",
                          "bad_sched = my_package.broken:create"],
    "torchx.named_resources": ["gpu_x2 = my_module.resources:gpu_x2"],
    "torchx.tracker": ["my_tracker = my_package.tracking:create"],
    "torchx.cli.cmds": ["my_tool = my_package.cli:CmdMyTool", "list = my_package.cli:CmdList",
                        "broken = my_package.broken:Cmd"],
}


@dataclass
class Venv:
    root: Path
    pkg: Path
    work: Path
    env: dict[str, str]

    def install(self, components: list[str]) -> None:
        """(Re)install the plugin package with these ``torchx.components`` entries."""
        eps = dict(BASE_EPS, **({"torchx.components": components} if components else {}))
        setup = textwrap.dedent(f"""
            from setuptools import find_packages, setup

            setup(
                name="torchx-plugin-fixture",
                version="0.0.1",
                packages=find_packages(),
                entry_points={eps!r},
            )
        """)
        (self.pkg / "setup.py").write_text(setup)
        for stale in ("build", "torchx_plugin_fixture.egg-info"):
            shutil.rmtree(self.pkg / stale, ignore_errors=True)
        subprocess.run(  # this venv's pip, installing into the new venv: nothing downloaded
            [sys.executable, "-m", "pip", "--python", str(self.root / "bin" / "python"),
             "install", "-q", "--no-deps",
             "--no-build-isolation", "--no-index", "--force-reinstall",
             "--disable-pip-version-check", str(self.pkg)],
            check=True, env=self.env, capture_output=True, timeout=300,
        )

    def torchx(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "bin" / "torchx"), *args], cwd=self.work, env=self.env,
            capture_output=True, text=True, timeout=120,
        )

    def ok(self, *args: str) -> str:
        p = self.torchx(*args)
        assert p.returncode == 0, f"torchx {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    tmp = tmp_path_factory.mktemp("plugins")
    root = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=300)
    # the new venv sees the project's venv (torchx editable, fsspec, setuptools) below its own
    site = subprocess.run(
        [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "zz_parent_venv.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    # the console script, as `pip install torchx` would create it, in the new venv
    script = root / "bin" / "torchx"
    script.write_text(f"#!{root}/bin/python\nfrom torchx.cli.main import main\nmain()\n")
    script.chmod(0o755)
    pkg = tmp / "pkg"
    for name, text in FILES.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(textwrap.dedent(text).lstrip())
    work = tmp / "work"
    work.mkdir()
    (work / "my_resources.py").write_text(textwrap.dedent('''
        from torchx.specs import Resource

        def gpu_x8_efa() -> Resource:
            return Resource(cpu=100, gpu=8, memMB=819200, devices={"vpc.amazonaws.com/efa": 1})

        def cpu_x32() -> Resource:
            return Resource(cpu=32, gpu=0, memMB=131072)

        NAMED_RESOURCES = {
            "gpu_x8_efa": gpu_x8_efa,
            "cpu_x32": cpu_x32,
        }
    '''))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TORCHX", "PYTHON"))}
    env.update(PATH=f"{root}/bin:{env.get('PATH', '')}", TORCHX_HOME=str(tmp / "home"),
               HOME=str(tmp / "user"))
    (tmp / "user").mkdir()
    yield Venv(root, pkg, work, env)


def test_cli_commands(venv: Venv) -> None:
    venv.install([])
    out = venv.ok("my_tool", "--config", "config.yaml", "local://session/my_app")
    assert out == "Running my_tool on local://session/my_app with config=config.yaml\n"
    assert venv.ok("list") == "plugin list replaced the builtin\n"
    assert "--config" in venv.ok("my_tool", "--help")
    # a broken plugin is reported once; the rest still works
    p = venv.torchx("broken")
    assert p.returncode == 2
    assert p.stderr.count("this plugin is broken on purpose") == 1
    assert "unknown command `broken`" in p.stderr
    # completion offers plugin commands too
    assert "my_tool" in venv.ok("__complete", "torchx my_")


def test_schedulers(venv: Venv) -> None:
    venv.install([])
    p = venv.torchx("runopts")
    assert p.returncode == 0 and "my_scheduler:" in p.stdout and "local_cwd:" in p.stdout
    assert p.stderr.count("bad_sched") == 1  # the broken one reported once, nothing else lost
    assert "dir" in venv.ok("runopts", "my_scheduler")
    dry = venv.ok("run", "-s", "my_scheduler", "-cfg", "dir=/tmp/x", "--dryrun", "utils.echo")
    assert 'MY REQUEST {"dir": "/tmp/x", "name": "echo"' in dry
    # a plugin with a builtin scheduler's name replaces it
    assert "where submitted apps are recorded" in venv.ok("runopts", "local_docker")
    dry = venv.ok("run", "-s", "local_docker", "-cfg", "dir=/tmp/y", "--dryrun", "utils.echo")
    assert 'MY REQUEST {"dir": "/tmp/y"' in dry
    out_dir = venv.work / "submitted"
    handle = venv.ok("run", "-s", "my_scheduler", "-cfg", f"dir={out_dir}", "--wait",
                     "utils.echo").strip()
    assert re.match(r"^my_scheduler://torchx/echo-[0-9a-f]{6}$", handle)
    assert json.loads(next(out_dir.iterdir()).read_text())["cmd"] == [["echo", "hello world"]]
    assert "State: SUCCEEDED" in venv.ok("status", handle)
    assert venv.ok("log", f"{handle}/echo/0") == "echo/0 echo/0 says hi from my_scheduler\n"
    # the Python API sees it too, exactly as advanced.rst shows
    code = ("from torchx.runner import get_runner\n"
            "with get_runner() as runner:\n"
            f"    print(runner.run_component('utils.echo', [], scheduler='my_scheduler', cfg={{'dir': {str(out_dir)!r}}}))\n")
    p2 = subprocess.run([str(venv.root / "bin" / "python"), "-c", code], env=venv.env,
                        cwd=venv.work, capture_output=True, text=True, timeout=60)
    assert p2.returncode == 0 and p2.stdout.startswith("my_scheduler://"), p2.stderr


def test_named_resources(venv: Venv) -> None:
    venv.install([])
    code = ('from torchx.specs import resource\n'
            'res = resource(h="gpu_x2")\n'
            'assert res.gpu == 2, f"expected 2 GPUs, got {res.gpu}"\n'
            'print(res.cpu, res.memMB)\n')
    p = subprocess.run([str(venv.root / "bin" / "python"), "-c", code], env=venv.env,
                       cwd=venv.work, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.split() == ["16", "122000"], p.stderr
    dry = venv.ok("run", "--dryrun", "--json", "utils.python", "--h", "gpu_x2", "-c", "pass")
    assert json.loads(dry)["app"]["roles"][0]["resource"]["gpu"] == 2
    # TORCHX_CUSTOM_NAMED_RESOURCES: a module of NAMED_RESOURCES, no package needed
    venv.env.update(TORCHX_CUSTOM_NAMED_RESOURCES="my_resources", PYTHONPATH=str(venv.work))
    try:
        dry = venv.ok("run", "--dryrun", "--json", "utils.python", "--h", "gpu_x8_efa", "-c", "pass")
        res = json.loads(dry)["app"]["roles"][0]["resource"]
        assert res["gpu"] == 8 and res["devices"] == {"vpc.amazonaws.com/efa": 1}
        p = venv.torchx("run", "--dryrun", "utils.python", "--h", "cpu_x3", "-c", "pass")
        assert p.returncode == 2 and "cpu_x32" in p.stderr and len(p.stderr.splitlines()) == 1
    finally:
        del venv.env["TORCHX_CUSTOM_NAMED_RESOURCES"], venv.env["PYTHONPATH"]


def _builtins(venv: Venv) -> list[str]:
    out = venv.ok("builtins").splitlines()
    names = [line.split(". ", 1)[1] for line in out[1:]]
    assert out[0] == f"Found {len(names)} builtin components:"
    return names


def test_components(venv: Venv) -> None:
    # a custom group replaces the builtins
    venv.install(["foo = my_project.bar"])
    assert venv.ok("builtins") == "Found 1 builtin components:\n1. foo.baz.trainer\n"
    p = venv.torchx("run", "foo.baz.trainer", "--", "--name", "test app")
    assert p.returncode == 0 and "trainer/0 test app" in p.stderr.splitlines(), p.stderr
    assert venv.torchx("run", "--dryrun", "utils.echo").returncode == 2
    # `torchx = torchx.components` adds the builtins back with a prefix; overlapping groups
    venv.install(["foo = my_project.bar", "test = my_project", "torchx = torchx.components"])
    names = _builtins(venv)
    assert {"foo.baz.trainer", "test.bar.baz.trainer", "torchx.dist.ddp",
            "torchx.utils.python"} <= set(names)
    assert "dist.ddp" not in names
    venv.ok("run", "--dryrun", "torchx.utils.echo")
    # `_` aliases add no prefix
    venv.install(["_0 = my_project.bar", "_1 = torchx.components"])
    names = _builtins(venv)
    assert names[0] == "baz.trainer" and {"dist.ddp", "utils.python"} <= set(names)
    assert not any(n.startswith(("_", "foo.", "torchx.")) for n in names)
    p = venv.torchx("run", "baz.trainer", "--name", "no prefix")
    assert p.returncode == 0 and "trainer/0 no prefix" in p.stderr.splitlines(), p.stderr


JOB = '''
from torchx.tracker import app_run_from_env

run = app_run_from_env()
run.add_metadata(lr=0.01)
print("backends", len(run.backends))
'''


def test_trackers(venv: Venv) -> None:
    venv.install([])
    (venv.work / "job.py").write_text(JOB)
    by_env = venv.work / "by_env.jsonl"
    venv.env.update(TORCHX_TRACKERS="my_tracker", TORCHX_TRACKER_MY_TRACKER_CONFIG=str(by_env))
    try:
        p = venv.torchx("run", "--parent_run_id", "parent-run", "utils.python", "--script", "job.py")
        assert p.returncode == 0, p.stderr
        handle = p.stdout.splitlines()[0]
        assert "python/0 backends 1" in p.stderr
        records = [json.loads(line) for line in by_env.read_text().splitlines()]
        assert {"run": handle, "metadata": {"lr": 0.01}} in records
        assert {"run": handle, "source": "parent-run"} in records
        assert venv.ok("tracker", "list", "jobs").split() == [handle]
        assert json.loads(venv.ok("tracker", "--json", "list", "metadata", handle)) == {"lr": 0.01}
    finally:
        del venv.env["TORCHX_TRACKERS"], venv.env["TORCHX_TRACKER_MY_TRACKER_CONFIG"]
    # activation by .torchxconfig, exactly as advanced.rst writes it
    by_file = venv.work / "by_file.jsonl"
    fsspec_dir = venv.work / "tracker_data"
    (venv.work / ".torchxconfig").write_text(
        f"[torchx:tracker]\nmy_tracker =\nfsspec =\n\n"
        f"[tracker:my_tracker]\nconfig = {by_file}\n\n[tracker:fsspec]\nconfig = {fsspec_dir}\n"
    )
    try:
        p = venv.torchx("run", "utils.python", "--script", "job.py")
        assert p.returncode == 0 and "python/0 backends 2" in p.stderr, p.stderr
        handle = p.stdout.splitlines()[0]
        assert {"run": handle, "metadata": {"lr": 0.01}} in [
            json.loads(line) for line in by_file.read_text().splitlines()]
        assert venv.ok("tracker", "--tracker", "fsspec", "list", "jobs").split() == [handle]
        # the environment beats the file
        by_env2 = venv.work / "env_wins.jsonl"
        venv.env["TORCHX_TRACKER_MY_TRACKER_CONFIG"] = str(by_env2)
        p = venv.torchx("run", "utils.python", "--script", "job.py")
        assert p.returncode == 0
        assert by_env2.exists() and len(by_file.read_text().splitlines()) == 1
    finally:
        venv.env.pop("TORCHX_TRACKER_MY_TRACKER_CONFIG", None)
        (venv.work / ".torchxconfig").unlink()
