"""General-purpose builtin components: echo, touch, sh, python, binary, copy, booth and hydra."""

from __future__ import annotations

import shlex
from typing import Annotated

import torchx.specs as specs
from torchx.components import IMAGE, SCRIPT_METADATA


def _mounts(mounts: list[str] | None) -> list[specs.Mount]:
    try:
        return specs.parse_mounts(mounts) if mounts else []
    except ValueError as e:
        from torchx.specs.builders import ComponentArgsError

        raise ComponentArgsError(f"bad --mounts: {e}") from None


def echo(msg: str = "hello world", image: str = IMAGE, num_replicas: int = 1) -> specs.AppDef:
    """Prints a message to stdout (``/bin/echo``); a quick check that a scheduler works.

    Args:
        msg: the message to print
        image: the image to run in
        num_replicas: how many replicas print it
    """
    return specs.AppDef(
        name="echo",
        roles=[
            specs.Role(
                name="echo",
                image=image,
                entrypoint="echo",
                args=[msg],
                num_replicas=num_replicas,
                resource=specs.resource(cpu=1, memMB=64),
            )
        ],
    )


def touch(file: str, image: str = IMAGE) -> specs.AppDef:
    """Creates (or updates the time of) a file with ``touch``.

    Args:
        file: the path of the file to touch
        image: the image to run in
    """
    return specs.AppDef(
        name="touch",
        roles=[
            specs.Role(
                name="touch",
                image=image,
                entrypoint="touch",
                args=[file],
                resource=specs.resource(cpu=1, memMB=64),
            )
        ],
    )


def sh(
    *args: str,
    image: str = IMAGE,
    num_replicas: int = 1,
    cpu: int = 1,
    gpu: int = 0,
    memMB: int = 1024,
    h: str | None = None,
    env: dict[str, str] | None = None,
    max_retries: int = 0,
    mounts: list[str] | None = None,
) -> specs.AppDef:
    """Runs a shell command line with ``sh -c``: ``torchx run utils.sh echo hello``.

    The words are quoted, so each one reaches the command unchanged; to use shell syntax
    (pipes, ``$VAR``) pass the whole line as one quoted word.

    Args:
        args: the command and its arguments
        image: the image to run in
        num_replicas: how many replicas run it
        cpu: CPUs per replica
        gpu: GPUs per replica
        memMB: memory per replica in MB
        h: a named resource (e.g. ``gpu.small``); overrides cpu, gpu and memMB
        env: environment variables, ``K1=V1,K2=V2``
        max_retries: how many times to retry when it fails
        mounts: mounts, e.g. ``type=bind,src=/data,dst=/data,readonly``
    """
    if not args:
        from torchx.specs.builders import ComponentArgsError

        raise ComponentArgsError("utils.sh needs a command: `torchx run utils.sh echo hello`")
    line = args[0] if len(args) == 1 else " ".join(shlex.quote(a) for a in args)
    return specs.AppDef(
        name="sh",
        roles=[
            specs.Role(
                name="sh",
                image=image,
                entrypoint="sh",
                args=["-c", line],
                num_replicas=num_replicas,
                max_retries=max_retries,
                env=dict(env or {}),
                resource=specs.resource(cpu=cpu, gpu=gpu, memMB=memMB, h=h),
                mounts=_mounts(mounts),
            )
        ],
    )


def python(
    *args: str,
    m: str | None = None,
    c: str | None = None,
    script: str | None = None,
    image: str = IMAGE,
    name: str = "torchx_utils_python",
    cpu: int = 1,
    gpu: int = 0,
    memMB: int = 1024,
    h: str | None = None,
    num_replicas: int = 1,
    env: dict[str, str] | None = None,
    mounts: list[str] | None = None,
) -> specs.AppDef:
    """Runs Python: a script (``--script``), a module (``-m``) or a command (``-c``).

    Give exactly one of them; the remaining arguments go to the program, e.g.
    ``torchx run utils.python --script train.py --epochs 3``. Without any of the three, the
    first argument is the script (``utils.python hello.py world``).

    Args:
        args: arguments to the program
        m: run this module (``python -m``)
        c: run this code (``python -c``)
        script: run this script file
        image: the image to run in
        name: the app's name
        cpu: CPUs per replica
        gpu: GPUs per replica
        memMB: memory per replica in MB
        h: a named resource (e.g. ``gpu.small``); overrides cpu, gpu and memMB
        num_replicas: how many replicas run it
        env: environment variables, ``K1=V1,K2=V2``
        mounts: mounts, e.g. ``type=bind,src=/data,dst=/data,readonly``
    """
    given = [flag for flag, v in (("--script", script), ("-m", m), ("-c", c)) if v is not None]
    rest = list(args)
    if len(given) > 1:
        from torchx.specs.builders import ComponentArgsError

        raise ComponentArgsError(f"utils.python takes exactly one of --script, -m or -c; got {' and '.join(given)}")
    if m is not None:
        cmd = ["-m", m]
    elif c is not None:
        cmd = ["-c", c]
    elif script is not None:
        cmd = [script]
    elif rest and not rest[0].startswith("-"):
        cmd = [rest.pop(0)]
    else:
        from torchx.specs.builders import ComponentArgsError

        raise ComponentArgsError(
            "utils.python needs exactly one of --script FILE, -m MODULE or -c CODE"
        )
    role_env = {"HYDRA_MAIN_MODULE": m} if m else {}
    role_env.update(env or {})
    script_file = cmd[0] if m is None and c is None else None
    return specs.AppDef(
        name=name,
        roles=[
            specs.Role(
                name="python",
                image=image,
                entrypoint="python",
                args=[*cmd, *rest],
                env=role_env,
                num_replicas=num_replicas,
                resource=specs.resource(cpu=cpu, gpu=gpu, memMB=memMB, h=h),
                mounts=_mounts(mounts),
                metadata={SCRIPT_METADATA: script_file} if script_file else {},
            )
        ],
    )


def binary(
    *args: str,
    entrypoint: str,
    name: str = "torchx_utils_binary",
    num_replicas: int = 1,
    image: str = IMAGE,
) -> specs.AppDef:
    """Runs a program: ``torchx run utils.binary --entrypoint /bin/ls -- -l /tmp``.

    Args:
        args: arguments to the program
        entrypoint: the program (a path, or a name found on PATH)
        name: the app's name
        num_replicas: how many replicas run it
        image: the image to run in
    """
    return specs.AppDef(
        name=name,
        roles=[
            specs.Role(
                name="binary",
                image=image,
                entrypoint=entrypoint,
                args=list(args),
                num_replicas=num_replicas,
                resource=specs.resource(cpu=1, memMB=1024),
            )
        ],
    )


def copy(src: str, dst: str, image: str = IMAGE) -> specs.AppDef:
    """Copies one file between fsspec URLs (``file://``, ``s3://``, ``memory://``, plain paths...).

    Runs ``python -m torchx.apps.utils.copy_main``; the job needs ``fsspec`` (and the
    filesystem's own package, e.g. ``s3fs``).

    Args:
        src: the source URL
        dst: the destination URL (its parent directories are created)
        image: the image to run in
    """
    return specs.AppDef(
        name="torchx_utils_copy",
        roles=[
            specs.Role(
                name="torchx_utils_copy",
                image=image,
                entrypoint="python",
                args=["-m", "torchx.apps.utils.copy_main", "--src", src, "--dst", dst],
                resource=specs.resource(cpu=1, memMB=1024),
            )
        ],
    )


def booth(
    x1: float,
    x2: float,
    trial_idx: int = 0,
    tracker_base: str = "/tmp/torchx-util-booth",
    image: str = IMAGE,
) -> specs.AppDef:
    """Evaluates the Booth function ``(x1 + 2*x2 - 7)^2 + (2*x1 + x2 - 5)^2`` (minimum 0 at 1, 3).

    A stand-in objective for hyper-parameter search: the result is recorded with
    ``FsspecResultTracker(tracker_base)[trial_idx] = {"booth_eval": value}``.

    Args:
        x1: the first coordinate
        x2: the second coordinate
        trial_idx: the key the result is recorded under
        tracker_base: the fsspec URL the results are written to
        image: the image to run in
    """
    return specs.AppDef(
        name="booth",
        roles=[
            specs.Role(
                name="booth",
                image=image,
                entrypoint="python",
                args=[
                    "-m", "torchx.apps.utils.booth_main",
                    "--x1", repr(float(x1)),
                    "--x2", repr(float(x2)),
                    "--trial_idx", str(trial_idx),
                    "--tracker_base", tracker_base,
                ],
                resource=specs.resource(cpu=1, memMB=1024),
            )
        ],
    )


_HYDRA_MACROS = {"app_id": specs.macros.app_id, "replica_id": specs.macros.replica_id,
                 "rank0_env": specs.macros.rank0_env, "img_root": specs.macros.img_root}


def hydra(
    *overrides: str,
    config_name: Annotated[str, "-cn"],
    config_dir: Annotated[str, "-cd"] = ".torchx",
) -> specs.AppDef:
    """Builds the app a Hydra config describes: composes ``<config_dir>/<config_name>.yaml``
    with the ``key=value`` overrides and instantiates its ``app`` node (``_target_:
    torchx.specs.AppDef``, roles ``_target_: torchx.specs.Role``...). The resolvers
    ``${torchx.app_id:}``, ``${torchx.replica_id:}``, ``${torchx.rank0_env:}`` and
    ``${torchx.img_root:}`` put torchx macros in the config. ``TORCHX_DEBUG=1`` prints the
    composed config. Needs hydra-core: ``pip install 'torchx[hydra]'``.

    Args:
        overrides: Hydra overrides, e.g. ``app.roles.0.num_replicas=2``
        config_name: the config to compose (the file name without ``.yaml``)
        config_dir: the directory holding the configs
    """
    import os
    import sys

    from torchx.specs.builders import ComponentArgsError

    try:
        from hydra import compose, initialize_config_dir
        from hydra.errors import HydraException
        from hydra.utils import instantiate
        from omegaconf import OmegaConf
    except ImportError:
        raise ComponentArgsError(
            "utils.hydra needs hydra-core: pip install 'torchx[hydra]'") from None
    for name, macro in _HYDRA_MACROS.items():
        OmegaConf.register_new_resolver(
            f"torchx.{name}", lambda m=macro: m.replace("$", "\\$"), replace=True)
    path = os.path.abspath(os.path.expanduser(config_dir))
    if not os.path.isdir(path):
        raise ComponentArgsError(f"utils.hydra: config dir `{path}` does not exist; pass -cd DIR")
    try:
        with initialize_config_dir(config_dir=path, version_base=None):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        if os.environ.get("TORCHX_DEBUG"):
            sys.stderr.write(OmegaConf.to_yaml(cfg))
        if "app" not in cfg:
            raise ComponentArgsError(
                f"utils.hydra: config `{config_name}` has no `app` node; put the AppDef"
                " (`_target_: torchx.specs.AppDef`) under `app:`")
        app = instantiate(cfg.app, _convert_="all")
    except HydraException as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()
                 and not line.strip().startswith(("provider=", "Config search path"))]
        raise ComponentArgsError(f"utils.hydra: {'; '.join(lines)} (config dir: {path})") from None
    if not isinstance(app, specs.AppDef):
        raise ComponentArgsError(
            f"utils.hydra: `app` of `{config_name}` made a {type(app).__name__}, not an"
            " AppDef; set `_target_: torchx.specs.AppDef`")
    return app
