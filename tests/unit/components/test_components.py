"""Builtin components: the AppDefs they build, their errors, and their commands run for real."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import torchx.specs as specs
from torchx.components import IMAGE
from torchx.components.structured_arg import StructuredJArgument, StructuredNameArgument
from torchx.specs.builders import ComponentArgsError, materialize_appdef
from torchx.specs.finder import get_component

REPO = Path(__file__).resolve().parents[3]
VALUES = specs.macros.Values(img_root="", app_id="app-1", replica_id="0", rank0_env="TORCHX_RANK0_HOST")


def build(name: str, *argv: str) -> specs.Role:
    app = materialize_appdef(get_component(name).fn, list(argv))
    assert len(app.roles) == 1
    return app.roles[0]


def _env() -> dict[str, str]:
    """The test's environment with this interpreter's directory first on PATH (as CI runs)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process's whole session (torchrun's workers too) if it is still running."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_role(role: specs.Role, cwd: Path, extra_env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    role = VALUES.apply(role)
    argv = [role.entrypoint, *role.args]
    proc = subprocess.Popen(argv, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**_env(), **role.env, **(extra_env or {})}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        _kill_group(proc)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# --------------------------------------------------------------------------- -j and --name


@pytest.mark.parametrize(
    "j, nnodes, nproc, min_nnodes, rep",
    [
        ("4", 1, 4, 1, "1"),
        ("2x3", 2, 3, 2, "2"),
        ("1:4x2", 4, 2, 1, "1:4"),
        (" 2x1 ", 2, 1, 2, "2"),
    ],
)
def test_j(j: str, nnodes: int, nproc: int, min_nnodes: int, rep: str) -> None:
    arg = StructuredJArgument.parse_from(j)
    assert (arg.nnodes, arg.nproc_per_node, arg.min_nnodes, arg.nnodes_rep) == (nnodes, nproc, min_nnodes, rep)


@pytest.mark.parametrize("j", ["", "x", "2x", "x2", "0", "0x2", "2x0", "3:2x1", "a", "2x2x2", "-1", "1.5"])
def test_bad_j(j: str) -> None:
    with pytest.raises(ComponentArgsError, match=r"-j|node"):
        StructuredJArgument.parse_from(j)


def test_bad_j_through_the_component() -> None:
    with pytest.raises(ComponentArgsError, match=r"bad `-j 2y3`: use `-j N`"):
        build("dist.ddp", "-j", "2y3", "--script", "t.py")


@pytest.mark.parametrize(
    "name, m, script, exp, run",
    [
        ("/", None, "path/to/train.py", "default-experiment", "train"),
        ("exp/", "pkg.mod.main", None, "exp", "main"),
        ("/run1", None, "t.py", "default-experiment", "run1"),
        ("exp/run1", None, "t.py", "exp", "run1"),
        ("run2", None, "t.py", "default-experiment", "run2"),
    ],
)
def test_name(name: str, m: str | None, script: str | None, exp: str, run: str) -> None:
    arg = StructuredNameArgument.parse_from(name, m=m, script=script)
    assert (arg.experiment_name, arg.run_name) == (exp, run)


@pytest.mark.parametrize("name", ["a/b/c", "/"])
def test_bad_name(name: str) -> None:
    with pytest.raises(ComponentArgsError):
        StructuredNameArgument.parse_from(name)


# --------------------------------------------------------------------------- dist.*


def test_ddp_single_node_command() -> None:
    role = build("dist.ddp", "--script", "train.py", "--epochs", "3")
    assert role.entrypoint == "bash" and role.args[0] == "-c"
    assert shlex.split(VALUES.substitute(role.args[1])) == [
        "python", "-m", "torch.distributed.run", "--rdzv_backend", "c10d",
        "--rdzv_endpoint", "localhost:0", "--rdzv_id", "app-1", "--nnodes", "1",
        "--nproc_per_node", "2", "--tee", "3", "--role", "train", "train.py", "--epochs", "3",
    ]
    assert (role.num_replicas, role.min_replicas, role.image, role.name) == (1, None, IMAGE, "train")
    assert role.resource == specs.Resource(cpu=2, gpu=0, memMB=1024)


def test_ddp_multi_node_rendezvous_on_rank0_host() -> None:
    role = build("dist.ddp", "-j", "2x4", "-m", "pkg.trainer", "--rdzv_port", "1234",
                 "--rdzv_conf", "timeout=60", "--name", "exp/run")
    line = VALUES.substitute(role.args[1])
    assert "--rdzv_endpoint ${TORCHX_RANK0_HOST:=localhost}:1234 " in line
    words = shlex.split(line)
    assert words[words.index("--nnodes") + 1] == "2"
    assert words[words.index("--rdzv_conf") + 1] == "timeout=60"
    assert words[-2:] == ["-m", "pkg.trainer"]
    assert role.num_replicas == 2 and role.port_map == {"c10d": 1234}
    assert role.name == "trainer" and words[words.index("--role") + 1] == "trainer"
    assert role.env["TORCHX_TRACKING_EXPERIMENT_NAME"] == "exp"
    assert role.env["LOGLEVEL"] == "WARNING"


@pytest.mark.parametrize(("env", "endpoint"), [
    ({}, "localhost:29500"),
    ({"TORCHX_RDZV_PORT": "41234"}, "localhost:41234"),  # a scheduler's port (local_cwd's)
    ({"TORCHX_RDZV_PORT": "41234", "TORCHX_RANK0_HOST": "node0"}, "node0:41234"),
])
def test_ddp_multi_node_port_is_the_schedulers_else_29500(env: dict[str, str], endpoint: str) -> None:
    """Without --rdzv_port the node reads $TORCHX_RDZV_PORT (issue 9: local jobs each get a free
    one), falling back to 29500 as upstream; with --rdzv_port that port is used as given."""
    role = build("dist.ddp", "-j", "2x1", "--script", "t.py")
    assert role.port_map == {"c10d": 29500}
    probe = 'python() { printf "%s\\0" "$@"; }; ' + VALUES.substitute(role.args[1])
    out = subprocess.run(["bash", "-c", probe], capture_output=True, timeout=30, check=True,
                         env={"PATH": os.environ["PATH"], **env}).stdout.decode()
    words = out.split("\0")
    assert words[words.index("--rdzv_endpoint") + 1] == endpoint
    given = build("dist.ddp", "-j", "2x1", "--rdzv_port", "1234", "--script", "t.py")
    assert "TORCHX_RDZV_PORT" not in given.args[1] and given.port_map == {"c10d": 1234}


def test_ddp_role_is_named_after_the_script_not_the_run() -> None:
    app = materialize_appdef(get_component("dist.ddp").fn,
                             ["--name", "exp/trial_1", "--script", "src/train.py"])
    assert (app.name, app.roles[0].name) == ("trial_1", "train")


def test_ddp_elastic_and_resources() -> None:
    app = materialize_appdef(get_component("dist.ddp").fn, [
        "-j", "1:3x2", "--script", "t.py", "-h", "aws_p3.8xlarge", "--max_retries", "2",
        "--env", "A=1", "--mounts", "type=bind,src=/data,dst=/data,readonly", "--debug",
        "--image", "img:1",
    ])
    role = app.roles[0]
    assert (role.num_replicas, role.min_replicas, role.max_retries, role.image) == (3, 1, 2, "img:1")
    assert "--nnodes 1:3" in role.args[1]
    assert role.resource == specs.resource(h="aws_p3.8xlarge")
    assert role.env["A"] == "1" and role.env["TORCH_DISTRIBUTED_DEBUG"] == "DETAIL"
    assert role.mounts == [specs.BindMount("/data", "/data", read_only=True)]


@pytest.mark.parametrize("component", ["dist.ddp", "dist.torchrun", "dist.spmd"])
@pytest.mark.parametrize(
    "argv, message",
    [
        ([], r"needs exactly one of --script FILE or -m MODULE"),
        (["--script", "a.py", "-m", "b"], r"got both"),
        (["--script", "a.py", "--mounts", "type=nfs,src=a,dst=b"], r"bad --mounts: unknown mount type"),
        (["--script", "a.py", "-h", "gpu.smal"], r"Did you mean `gpu.small`"),
    ],
)
def test_dist_errors(component: str, argv: list[str], message: str) -> None:
    with pytest.raises((ComponentArgsError, KeyError), match=message):
        build(component, *argv)


@pytest.mark.parametrize("component, nproc", [("dist.ddp", "2"), ("dist.torchrun", "1"), ("dist.spmd", "1")])
def test_dist_default_j(component: str, nproc: str) -> None:
    words = shlex.split(VALUES.substitute(build(component, "--script", "t.py").args[1]))
    assert words[words.index("--nproc_per_node") + 1] == nproc


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12), max_size=5))
def test_ddp_script_args_reach_the_program_unchanged(words: list[str]) -> None:
    """The real bash receives every user word as is (python is a shell function here)."""
    role = build("dist.ddp", "-j", "2x2", "--script", "my script.py", "--", *words)
    line = VALUES.substitute(role.args[1])
    probe = 'python() { printf "%s\\0" "$@"; }; ' + line
    out = subprocess.run(["bash", "-c", probe], capture_output=True, timeout=30,
                         env={"PATH": os.environ["PATH"]}, check=True).stdout
    got = [w.decode("utf-8", "surrogateescape") for w in out.split(b"\0")[:-1]]
    assert got[got.index("--rdzv_endpoint") + 1] == "localhost:29500"  # ${VAR:=localhost} expanded
    # macros apply to user words too (`$$` is a literal `$`), exactly as for any other role
    assert got[-len(words) - 1:] == ["my script.py", *(VALUES.substitute(w) for w in words)]


@pytest.mark.timeout(240)
def test_ddp_trains_for_real_on_one_node(tmp_path: Path) -> None:
    role = build("dist.ddp", "-j", "2", "--script", str(REPO / "examples" / "train.py"), "--epochs", "2")
    proc = run_role(role, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "done: trained on 2 processes" in proc.stdout + proc.stderr


@pytest.mark.timeout(240)
def test_ddp_two_nodes_meet_at_rank0(tmp_path: Path) -> None:
    """Two replicas of a 2x1 job started side by side rendezvous through TORCHX_RANK0_HOST."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    role = VALUES.apply(build("dist.ddp", "-j", "2x1", "--rdzv_port", str(port), "--script",
                              str(REPO / "examples" / "train.py"), "--epochs", "1"))
    env = {**_env(), **role.env, "TORCHX_RANK0_HOST": "127.0.0.1"}
    procs = [subprocess.Popen([role.entrypoint, *role.args], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True) for _ in range(2)]
    try:
        outs = [p.communicate(timeout=200)[0] for p in procs]
    finally:
        for p in procs:
            _kill_group(p)
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "done: trained on 2 processes" in "".join(outs)


# --------------------------------------------------------------------------- utils.*


def test_echo_and_touch(tmp_path: Path) -> None:
    role = build("utils.echo", "--msg", "hi $USER 'there'", "--num_replicas", "2")
    assert (role.entrypoint, role.args, role.num_replicas) == ("echo", ["hi $USER 'there'"], 2)
    assert run_role(role, tmp_path).stdout == "hi $USER 'there'\n"
    target = tmp_path / "touched"
    assert run_role(build("utils.touch", "--file", str(target)), tmp_path).returncode == 0
    assert target.exists()


def test_sh_runs_a_command_line(tmp_path: Path) -> None:
    one = build("utils.sh", "echo a | tr a b")
    assert run_role(one, tmp_path).stdout == "b\n"
    role = build("utils.sh", "--env", "X=1", "-h", "cpu.small", "printf", "[%s]", "a b", "$X", ";")
    assert role.env == {"X": "1"} and role.resource == specs.resource(h="cpu.small")
    assert run_role(role, tmp_path).stdout == "[a b][$X][;]"


def test_sh_needs_a_command() -> None:
    with pytest.raises(ComponentArgsError, match="utils.sh needs a command"):
        build("utils.sh")


@pytest.mark.parametrize(
    "argv, args, env",
    [
        (["--script", "t.py", "--epochs", "3"], ["t.py", "--epochs", "3"], {}),
        (["-m", "pkg.main", "--", "-m", "x"], ["-m", "pkg.main", "-m", "x"], {"HYDRA_MAIN_MODULE": "pkg.main"}),
        (["-c", "print(1)", "a"], ["-c", "print(1)", "a"], {}),
        (["hello.py", "aptg"], ["hello.py", "aptg"], {}),
        (["--env", "K=V", "-m", "m"], ["-m", "m"], {"HYDRA_MAIN_MODULE": "m", "K": "V"}),
    ],
)
def test_python_modes(argv: list[str], args: list[str], env: dict[str, str]) -> None:
    role = build("utils.python", *argv)
    assert (role.entrypoint, role.args, role.env) == ("python", args, env)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], r"needs exactly one of --script FILE, -m MODULE or -c CODE"),
        (["--script", "a.py", "-m", "b"], r"exactly one of --script, -m or -c; got --script and -m"),
        (["-m", "a", "-c", "b"], r"got -m and -c"),
        (["--scrpt", "t.py"], r"did you mean `--script`"),
    ],
)
def test_python_errors(argv: list[str], message: str) -> None:
    with pytest.raises(ComponentArgsError, match=message):
        build("utils.python", *argv)


def test_python_runs_for_real(tmp_path: Path) -> None:
    role = build("utils.python", "-c", "import sys; print(sys.argv[1:])", "--x", "a b")
    proc = run_role(role, tmp_path)
    assert proc.stdout == "['--x', 'a b']\n", proc.stderr


def test_binary(tmp_path: Path) -> None:
    role = build("utils.binary", "--entrypoint", "printf", "--name", "b", "--", "%s-", "--name")
    assert (role.entrypoint, role.args) == ("printf", ["%s-", "--name"])
    assert run_role(role, tmp_path).stdout == "--name-"


def test_copy_copies_through_fsspec(tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(3 << 20))
    dst = tmp_path / "deep" / "er" / "out.bin"
    role = build("utils.copy", "--src", f"file://{src}", "--dst", str(dst))
    assert role.args[:2] == ["-m", "torchx.apps.utils.copy_main"]
    proc = run_role(role, tmp_path, {"PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    assert dst.read_bytes() == src.read_bytes()


def test_copy_missing_source_is_one_line(tmp_path: Path) -> None:
    role = build("utils.copy", "--src", str(tmp_path / "nope"), "--dst", str(tmp_path / "x"))
    proc = run_role(role, tmp_path, {"PYTHONPATH": str(REPO)})
    assert proc.returncode != 0 and "source not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_booth_records_its_result(tmp_path: Path) -> None:
    role = build("utils.booth", "--x1", "1", "--x2", "3", "--trial_idx", "7",
                 "--tracker_base", str(tmp_path / "tracker"))
    proc = run_role(role, tmp_path, {"PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    from torchx.runtime.tracking import FsspecResultTracker

    assert FsspecResultTracker(str(tmp_path / "tracker"))[7] == {"booth_eval": 0.0}
    role = build("utils.booth", "--x1", "0", "--x2", "0", "--tracker_base", str(tmp_path / "tracker"))
    assert run_role(role, tmp_path, {"PYTHONPATH": str(REPO)}).returncode == 0
    assert FsspecResultTracker(str(tmp_path / "tracker"))[0] == {"booth_eval": 74.0}


@pytest.mark.parametrize("name", sorted(["utils.echo", "utils.touch", "utils.sh", "utils.python",
                                         "utils.binary", "utils.copy", "utils.booth", "dist.ddp",
                                         "dist.torchrun", "dist.spmd"]))
def test_every_builtin_documents_every_option(name: str) -> None:
    import inspect

    from torchx.specs.file_linter import parse_docstring

    fn = get_component(name).fn
    doc = parse_docstring(fn.__doc__)
    assert doc.description
    missing = [p for p in inspect.signature(fn).parameters if p not in doc.args]
    assert missing == [], f"{name}: no help for {missing}"
