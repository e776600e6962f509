"""torchx.specs.api: run options, mounts, macros, states, handles and the data classes."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from torchx import specs
from torchx.specs import (
    AppDef,
    AppState,
    AppStatus,
    AppStatusError,
    BindMount,
    DeviceMount,
    InvalidRunConfigException,
    MalformedAppHandleException,
    ReplicaStatus,
    Resource,
    Role,
    RoleStatus,
    StructuredOpts,
    TorchXError,
    VolumeMount,
    cfg_from_str,
    macros,
    parse_mounts,
    runopts,
)

# --------------------------------------------------------------------------- cfg_from_str


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a=1,b=2", {"a": "1", "b": "2"}),
        ("k=a;b", {"k": ["a", "b"]}),
        ("k=a,b", {"k": ["a", "b"]}),
        ("k=a;b,j=c", {"k": ["a", "b"], "j": "c"}),
        ('k="a,b"', {"k": "a,b"}),
        ("k='a;b',j=c", {"k": "a;b", "j": "c"}),
        ("k=x:1;y:2", {"k": ["x:1", "y:2"]}),
        ("url=s3://b/p?x=1", {"url": "s3://b/p?x=1"}),
        (" a = 1 , b=2 ", {"a": "1", "b": "2"}),
        ("a=1,,b=2", {"a": "1", "b": "2"}),
        ("", {}),
    ],
)
def test_cfg_from_str(text: str, expected: dict[str, Any]) -> None:
    assert cfg_from_str(text) == expected


@pytest.mark.parametrize("text", ["nokey", "=v", 'k="open'])
def test_cfg_from_str_rejects(text: str) -> None:
    with pytest.raises(InvalidRunConfigException):
        cfg_from_str(text)


def _opts() -> runopts:
    opts = runopts()
    opts.add("queue", str, "the queue to submit to", required=True)
    opts.add("flag", bool, "a switch", default=False)
    opts.add("n", int, "a count", default=1)
    opts.add("lr", float, "a rate")
    opts.add("tags", list[str], "labels")
    opts.add("env", dict[str, str], "variables", aliases=["environment"])
    return opts


@pytest.mark.parametrize(
    "text, expected",
    [
        ("queue=q,flag=yes", {"queue": "q", "flag": True}),
        ("flag=off", {"flag": False}),
        ("flag=1,n=7,lr=0.5", {"flag": True, "n": 7, "lr": 0.5}),
        ("tags=a;b", {"tags": ["a", "b"]}),
        ("tags=a", {"tags": ["a"]}),
        ("env=A:1;B:x:y", {"env": {"A": "1", "B": "x:y"}}),
        ("environment=A:1", {"env": {"A": "1"}}),
        ("queue='a,b'", {"queue": "a,b"}),
    ],
)
def test_runopts_cfg_from_str_types(text: str, expected: dict[str, Any]) -> None:
    assert _opts().cfg_from_str(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("flag=maybe", "must be true or false"),
        ("n=two", "must be a whole number"),
        ("lr=fast", "must be a number"),
        ("env=novalue", "key:value"),
        ("qeue=x", "unknown run option `qeue`. Did you mean `queue`?"),
    ],
)
def test_runopts_cfg_from_str_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidRunConfigException, match=message.replace("?", r"\?")):
        _opts().cfg_from_str(text)


def test_resolve_fills_defaults_and_checks() -> None:
    opts = _opts()
    assert opts.resolve({"queue": "q"}) == {
        "queue": "q", "flag": False, "n": 1, "lr": None, "tags": None, "env": None,
    }
    with pytest.raises(InvalidRunConfigException, match=r"required run option `queue` is missing"):
        opts.resolve({})
    with pytest.raises(InvalidRunConfigException, match=r"`n` must be of type int"):
        opts.resolve({"queue": "q", "n": "3"})


@pytest.mark.parametrize("key, start", [
    ("zzz", "unknown run option `zzz`. Known options: "),
    ("qeue", "unknown run option `qeue`. Did you mean `queue`? Valid options: "),
])
def test_unknown_or_mistyped_run_option_lists_the_valid_ones(key: str, start: str) -> None:
    for attempt in (lambda: _opts().resolve({key: "1", "queue": "q"}), lambda: _opts().cfg_from_str(f"{key}=1")):
        with pytest.raises(InvalidRunConfigException) as e:
            attempt()
        msg = str(e.value)
        assert msg.startswith(start) and "\n" not in msg
        assert msg.endswith("env, flag, lr, n, queue, tags")


def test_cfg_from_json_repr_resolves_aliases_and_types() -> None:
    cfg = _opts().cfg_from_json_repr('{"environment": {"A": "1"}, "n": "3", "gone": 1}')
    assert cfg == {"env": {"A": "1"}, "n": 3}


def test_runopts_repr_lists_required_first() -> None:
    text = repr(_opts())
    assert text.index("queue") < text.index("flag")
    assert "(required)" in text and "(default: 1)" in text and "the queue to submit to" in text


def test_runopts_add_rejects_bad_declarations() -> None:
    opts = runopts()
    with pytest.raises(ValueError):
        opts.add("x", str, "h", default="a", required=True)
    with pytest.raises(TypeError):
        opts.add("x", int, "h", default="one")
    with pytest.raises(TypeError):
        opts.add("x", set, "h")


# --------------------------------------------------------------------------- StructuredOpts


@dataclass
class _MyOpts(StructuredOpts):
    cluster: str = "default"
    """Cluster to submit to."""
    retries: int = 2
    """How many times to retry.

    Second paragraph."""
    tags: list[str] = field(default_factory=list)
    """Labels for the job."""
    mail_user: str | None = field(default=None, metadata={"key": "mail-user"})
    """Where mail goes."""


def test_structured_opts_help_comes_from_field_docstrings() -> None:
    opts = dict(_MyOpts.as_runopts())
    assert opts["cluster"].help == "Cluster to submit to."
    assert opts["retries"].help.startswith("How many times to retry.")
    assert opts["retries"].default == 2 and opts["retries"].opt_type is int
    assert opts["mail-user"].help == "Where mail goes."
    assert opts["tags"].opt_type is list


@dataclass
class _MoreOpts(_MyOpts):
    extra: bool = False
    """A subclass's own field."""


def test_structured_opts_source_is_parsed_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchx.specs import structured as api

    reads: list[str] = []
    real = api._class_tree

    def counting(klass: type) -> Any:
        reads.append(klass.__name__)
        return real(klass)

    monkeypatch.setattr(api, "_class_tree", counting)
    first = _MoreOpts.as_runopts()
    first.add("scribble", str, "added by a caller")  # must not leak into the next call
    second = _MoreOpts.as_runopts()
    assert second is not first and "scribble" not in dict(second)
    assert dict(second)["extra"].help == "A subclass's own field."
    assert dict(second)["cluster"].help == "Cluster to submit to."
    _MoreOpts.from_cfg({"extra": True})
    assert sorted(reads) == ["_MoreOpts", "_MyOpts"]  # one read per class in the MRO, then cached


def test_structured_opts_top_level_class_is_cut_from_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from torchx.specs import structured as api

    def no_inspect(obj: Any) -> str:
        raise AssertionError("the whole module was parsed")

    monkeypatch.setattr(inspect, "getsource", no_inspect)
    assert api._read_field_docs(_MoreOpts) == {"cluster": "Cluster to submit to.",
                                                "retries": "How many times to retry.\n\nSecond paragraph.",
                                                "tags": "Labels for the job.",
                                                "mail_user": "Where mail goes.",
                                                "extra": "A subclass's own field."}


def test_structured_opts_docs_of_a_nested_class_come_through_inspect() -> None:
    @dataclass
    class Local(StructuredOpts):
        depth: int = 1
        """How deep."""

    assert dict(Local.as_runopts())["depth"].help == "How deep."


def test_structured_opts_from_cfg() -> None:
    o = _MyOpts.from_cfg({"cluster": "big", "mail-user": "me@x"})
    assert o == _MyOpts(cluster="big", retries=2, tags=[], mail_user="me@x")
    with pytest.raises(InvalidRunConfigException, match="clustr"):
        _MyOpts.from_cfg({"clustr": "big"})


# --------------------------------------------------------------------------- mounts


@pytest.mark.parametrize(
    "opts, expected",
    [
        (["type=bind,src=/a,dst=/b"], [BindMount("/a", "/b")]),
        (["type=bind,src=/a,dst=/b,readonly"], [BindMount("/a", "/b", read_only=True)]),
        (["type=bind", "src=/a", "dst=/b", "readonly=false"], [BindMount("/a", "/b")]),
        (["type=volume,src=pvc,dst=/m"], [VolumeMount("pvc", "/m")]),
        (["type=device,src=/dev/fuse"], [DeviceMount("/dev/fuse", "/dev/fuse")]),
        (["type=device,src=/dev/a,dst=/dev/b,perm=r"], [DeviceMount("/dev/a", "/dev/b", "r")]),
        (
            ["type=bind,source=/a,target=/b,ro,type=volume,src=v,destination=/c"],
            [BindMount("/a", "/b", True), VolumeMount("v", "/c")],
        ),
        ([], []),
    ],
)
def test_parse_mounts(opts: list[str], expected: list[Any]) -> None:
    assert parse_mounts(opts) == expected


@pytest.mark.parametrize(
    "opts, message",
    [
        (["src=/a,dst=/b"], "must start with `type=`"),
        (["type=nfs,src=/a,dst=/b"], "unknown mount type `nfs`"),
        (["type=nfs"], "unknown mount type `nfs`: use bind, volume or device"),
        (["type=bind,src=/a"], "needs `dst=`"),
        (["type=bind,dst=/a"], "needs `src=`"),
        (["type=bind,src=/a,dst=/b,colour=red"], "unknown mount option `colour`"),
        (["type=bind,src=/a,dst=/b,readonly=perhaps"], "readonly must be true or false"),
    ],
)
def test_parse_mounts_errors(opts: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_mounts(opts)


# --------------------------------------------------------------------------- macros


_VALUES = macros.Values(img_root="/img", app_id="app-7", replica_id="2", rank0_env="RANK0_HOST")


@pytest.mark.parametrize(
    "arg, expected",
    [
        (macros.app_id, "app-7"),
        (f"--out=/ckpt/{macros.app_id}/{macros.replica_id}", "--out=/ckpt/app-7/2"),
        (f"{macros.img_root}/bin", "/img/bin"),
        (macros.rank0_env, "RANK0_HOST"),
        ("$${HOME}", "${HOME}"),
        ("cost: $$5", "cost: $5"),
        ("${unknown} $HOME $", "${unknown} $HOME $"),
        (f"$${{{macros.rank0_env}:=localhost}}:29500", "${RANK0_HOST:=localhost}:29500"),
        ("plain", "plain"),
    ],
)
def test_macro_substitution(arg: str, expected: str) -> None:
    assert _VALUES.substitute(arg) == expected


def test_macros_apply_to_args_env_and_metadata_without_mutating() -> None:
    role = Role(
        name="r", image="i", entrypoint="e",
        args=["--id", macros.app_id], env={"REPLICA": macros.replica_id},
        metadata={"where": macros.img_root, "n": 3},
    )
    out = _VALUES.apply(role)
    assert out.args == ["--id", "app-7"]
    assert out.env == {"REPLICA": "2"}
    assert out.metadata == {"where": "/img", "n": 3}
    assert role.args == ["--id", macros.app_id]  # the original is untouched


# --------------------------------------------------------------------------- states


def test_app_state_values_and_terminality() -> None:
    assert [s.value for s in AppState] == list(range(8))
    assert [s.name for s in AppState if s.is_terminal()] == ["SUCCEEDED", "FAILED", "CANCELLED"]
    assert not specs.is_terminal(AppState.UNKNOWN)


def test_raise_for_status() -> None:
    AppStatus(AppState.SUCCEEDED).raise_for_status()
    for state in AppState:
        if state is not AppState.SUCCEEDED:
            with pytest.raises(AppStatusError) as e:
                AppStatus(state, msg="why").raise_for_status()
            assert isinstance(e.value, TorchXError) and state.name in str(e.value)


_ROLES = [
    RoleStatus("trainer", [
        ReplicaStatus(0, AppState.SUCCEEDED, "trainer", "host0"),
        ReplicaStatus(1, AppState.FAILED, "trainer", "", structured_error_msg='{"message": "oom"}'),
    ]),
    RoleStatus("ps", [ReplicaStatus(0, AppState.RUNNING, "ps", "host1")]),
]


@pytest.mark.parametrize(
    "status, filter_roles, expected",
    [
        (AppStatus(AppState.RUNNING), None, "AppStatus:\n  State: RUNNING\n  Num Restarts: 0"),
        (
            AppStatus(AppState.FAILED, 2, "exit 1\nsecond line", ui_url="http://ui"),
            None,
            "AppStatus:\n  State: FAILED\n  Num Restarts: 2\n  Msg: exit 1\n    second line\n"
            "  UI URL: http://ui",
        ),
        (
            AppStatus(AppState.FAILED, structured_error_msg='{"message": {"message": "boom"}}'),
            None,
            "AppStatus:\n  State: FAILED\n  Num Restarts: 0\n  Error: boom",
        ),
        (
            AppStatus(AppState.FAILED, roles=_ROLES),
            None,
            "AppStatus:\n  State: FAILED\n  Num Restarts: 0\n  Roles:\n    trainer:\n"
            "      trainer[0] SUCCEEDED on host0\n      trainer[1] FAILED\n        error: oom\n"
            "    ps:\n      ps[0] RUNNING on host1",
        ),
        (
            AppStatus(AppState.FAILED, roles=_ROLES),
            ["ps"],
            "AppStatus:\n  State: FAILED\n  Num Restarts: 0\n  Roles:\n    ps:\n"
            "      ps[0] RUNNING on host1",
        ),
    ],
)
def test_app_status_format(status: AppStatus, filter_roles: list[str] | None, expected: str) -> None:
    assert status.format(filter_roles) == expected


def test_app_status_to_json() -> None:
    js = AppStatus(AppState.FAILED, 1, "m", '{"message": "x"}', roles=_ROLES[1:]).to_json()
    assert js["state"] == "FAILED" and js["structured_error_msg"] == {"message": "x"}
    assert js["roles"][0]["replicas"][0] == {
        "id": 0, "state": "RUNNING", "role": "ps", "hostname": "host1",
        "structured_error_msg": None,
    }
    assert AppStatus(AppState.SUCCEEDED).to_json()["structured_error_msg"] is None
    assert AppStatus(AppState.FAILED, structured_error_msg="plain").to_json()[
        "structured_error_msg"] == "plain"


# --------------------------------------------------------------------------- handles


@pytest.mark.parametrize(
    "handle, parts",
    [
        ("local_cwd://torchx/echo-a1b2", ("local_cwd", "torchx", "echo-a1b2")),
        ("kubernetes://torchx/default:my_job_123", ("kubernetes", "torchx", "default:my_job_123")),
        ("slurm:///1234", ("slurm", "", "1234")),
    ],
)
def test_parse_app_handle(handle: str, parts: tuple[str, str, str]) -> None:
    assert tuple(specs.parse_app_handle(handle)) == parts
    assert specs.make_app_handle(*parts) == handle


@pytest.mark.parametrize("handle", ["echo-a1b2", "local_cwd:/torchx/x", "local_cwd://torchx", "://s/a", ""])
def test_malformed_app_handle(handle: str) -> None:
    with pytest.raises(MalformedAppHandleException, match=r"expected `\{scheduler\}://"):
        specs.parse_app_handle(handle)


# --------------------------------------------------------------------------- data classes


def _app() -> AppDef:
    return AppDef(
        name="a",
        roles=[Role(
            name="r", image="i", entrypoint="python", args=["-m", "x"], env={"A": "1"},
            resource=specs.resource(h="aws_p4d.24xlarge"),
            mounts=[BindMount("/a", "/b")], port_map={"tb": 6006},
        )],
        metadata={"k": "v"},
    )


def test_data_classes_compare_by_value_and_deepcopy() -> None:
    a, b = _app(), _app()
    assert a == b
    c = copy.deepcopy(a)
    assert c == a
    c.roles[0].resource.devices["vpc.amazonaws.com/efa"] = 1
    c.roles[0].args.append("--more")
    assert a.roles[0].resource.devices["vpc.amazonaws.com/efa"] == 4
    assert a.roles[0].args == ["-m", "x"] and c != a
    assert AppStatus(AppState.RUNNING, roles=_ROLES) == copy.deepcopy(AppStatus(AppState.RUNNING, roles=_ROLES))


def test_role_defaults_are_not_shared() -> None:
    r1, r2 = Role("a", "i"), Role("b", "i")
    r1.env["X"] = "1"
    r1.resource.cpu = 4
    assert r2.env == {} and r2.resource == specs.NULL_RESOURCE and specs.NULL_RESOURCE.cpu == -1


def test_resource_copy_merges_capabilities() -> None:
    base = Resource(cpu=1, gpu=0, memMB=10, capabilities={"a": 1})
    new = Resource.copy(base, b=2)
    assert new.capabilities == {"a": 1, "b": 2} and base.capabilities == {"a": 1}


def test_get_role() -> None:
    app = _app()
    assert app.get_role("r") is app.roles[0]
    with pytest.raises(KeyError, match=r"no role `x`.*\['r'\]"):
        app.get_role("x")


def test_errors_share_one_root() -> None:
    for exc in (specs.UnknownAppException, specs.UnknownSchedulerException,
                InvalidRunConfigException, MalformedAppHandleException, AppStatusError):
        assert issubclass(exc, TorchXError)
    assert "Did you mean `local_cwd`" in str(specs.UnknownSchedulerException("local_cw", ["local_cwd", "slurm"]))


@pytest.mark.parametrize(
    "text, projects, unmapped",
    [
        ("~/proj", {"~/proj": ""}, True),
        ("a:x,b:y", {"a": "x", "b": "y"}, False),
        ("a:sub", {"a": "sub"}, False),
    ],
)
def test_workspace_from_str(text: str, projects: dict[str, str], unmapped: bool) -> None:
    ws = specs.Workspace.from_str(text)
    assert ws is not None and ws.projects == projects
    assert ws.is_unmapped_single_project() is unmapped
    assert specs.Workspace.from_str(str(ws)) == ws
    assert specs.Workspace.from_str("") is None and specs.Workspace.from_str(None) is None
