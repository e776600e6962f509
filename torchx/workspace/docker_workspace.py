"""Docker workspaces: patch a role's image with the user's local files.

The workspace files (``.dockerignore`` honoured) are laid over the role's image with the
project's ``Dockerfile.torchx`` when there is one (it gets ``--build-arg IMAGE=<role image>``),
otherwise ``FROM $IMAGE`` + ``COPY . .``. The resulting image is tagged with a hash of the files,
the base image's id and the Dockerfile, so an unchanged workspace is never rebuilt and a changed
one can never run a stale image. ``image_repo`` names where built images are pushed.

Needs the Docker SDK: ``pip install 'torchx[docker]'``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torchx.specs.api import CfgVal, Role, TorchXError, Workspace, runopts
from torchx.workspace.api import WorkspaceBuild, WorkspaceError, WorkspaceMixin, project_paths
from torchx.workspace.dir_workspace import IgnoreRules, walk

__all__ = [
    "DockerUnavailableError", "DockerWorkspaceMixin", "ImageNotFoundError", "connect",
    "ensure_image", "workspace_digest",
]

DOCKERFILE = "Dockerfile.torchx"
DEFAULT_DOCKERFILE = b"ARG IMAGE\nFROM $IMAGE\nCOPY . .\n"
GENERATED_DOCKERFILE = ".torchx.Dockerfile"
LOCAL_REPO = "torchx-workspace"
_DIGEST_VERSION = b"torchx-docker-workspace/1\0"
_TAG_LEN = 24
_BASES: dict[str, str] = {}
"""Workspace image -> the image it patches, for every tag this process computed: a role whose
image a dryrun replaced is rebuilt from its base, whichever scheduler instance builds it."""
MAX_INCREMENTAL_LAYERS = 8
"""Incremental builds stacked on one full build before the next full build flattens them."""


class DockerUnavailableError(TorchXError):
    """Docker Engine cannot be reached."""


class ImageNotFoundError(TorchXError):
    """An image is neither present locally nor pullable."""


def _docker() -> Any:
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        raise TorchXError(
            "Docker support needs the Docker SDK: pip install 'torchx[docker]'"
        ) from None
    return docker


def has_docker() -> bool:
    """Whether Docker can be used here: the SDK imports and the engine answers a ping."""
    try:
        connect().close()
    except TorchXError:
        return False
    return True


def connect() -> Any:
    """A Docker SDK client for ``DOCKER_HOST`` (default: the local socket), checked with a ping."""
    docker = _docker()
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        raise DockerUnavailableError(
            f"cannot reach Docker Engine at {where} (from DOCKER_HOST"
            f"{'' if 'DOCKER_HOST' in os.environ else ', unset so the default socket'}): {e}."
            " Start it (`sudo systemctl start docker`, or `sudo dockerd &`;"
            " in this repo `scripts/backends/docker.sh start`) or point DOCKER_HOST at a"
            " running engine"
        ) from None
    return client


def image_id(client: Any, image: str) -> str | None:
    """The id of ``image`` if it is present locally (never pulls)."""
    docker = _docker()
    try:
        return str(client.images.get(image).id)
    except docker.errors.ImageNotFound:
        return None


def ensure_image(client: Any, image: str, quiet: bool = True) -> str:
    """The id of ``image``, pulling it when it is not local; ImageNotFoundError otherwise."""
    found = image_id(client, image)
    if found is not None:
        return found
    docker = _docker()
    if not quiet:
        print(f"torchx: pulling {image}", file=sys.stderr)
    try:
        return str(client.images.pull(image).id)
    except docker.errors.DockerException as e:
        raise ImageNotFoundError(
            f"image `{image}` is not present locally and could not be pulled ({_short(e)}):"
            f" build or load it here (`docker build -t {image} .` or `docker load`), or push it"
            " to a registry this machine can reach"
        ) from None


def _short(e: BaseException) -> str:
    text = str(getattr(e, "explanation", None) or e)
    return text.splitlines()[0] if text else type(e).__name__


# --------------------------------------------------------------------------- build context


@dataclass
class _Context:
    files: list[tuple[str, str]]
    """(absolute path, path in the build context), sorted by the latter."""
    dockerfile: bytes
    dockerfile_name: str


def _context(workspace: Workspace) -> _Context:
    files: list[tuple[str, str]] = []
    dockerfile, name = DEFAULT_DOCKERFILE, GENERATED_DOCKERFILE
    for root, dst in project_paths(workspace):
        rules = IgnoreRules.load(root, ".dockerignore")
        for path, rel in walk(root, rules):
            if rel == ".dockerignore":
                continue
            files.append((path, f"{dst}/{rel}" if dst else rel))
        custom = os.path.join(root, DOCKERFILE)
        if not dst and os.path.isfile(custom):
            with open(custom, "rb") as f:
                dockerfile, name = f.read(), DOCKERFILE
    files.sort(key=lambda f: f[1])
    return _Context(files, dockerfile, name)


def _entry(path: str) -> tuple[os.stat_result, bytes] | None:
    """lstat and content (file bytes, link target, or empty for a directory); None when the
    entry vanished after the directory was listed (it is no longer part of the workspace)."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            return st, os.readlink(path).encode()
        if stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                return st, f.read()
    except FileNotFoundError:
        return None
    return st, b""


def _entry_key(st: os.stat_result, data: bytes) -> str:
    """Kind (``f``/``l``/``d``), permission bits and content hash of one entry."""
    kind = "l" if stat.S_ISLNK(st.st_mode) else "d" if stat.S_ISDIR(st.st_mode) else "f"
    return f"{kind}{st.st_mode & 0o777:o}:{hashlib.sha256(data).hexdigest()}"


def _start_digest(base_id: str, ctx: _Context) -> Any:
    h = hashlib.sha256(_DIGEST_VERSION)
    h.update(base_id.encode() + b"\0" + ctx.dockerfile_name.encode() + b"\0")
    h.update(hashlib.sha256(ctx.dockerfile).digest())
    return h


def workspace_digest(workspace: Workspace, base_id: str) -> str:
    """Hex digest of the workspace's files (after ignore rules), the base image and Dockerfile."""
    ctx = _context(workspace)
    h = _start_digest(base_id, ctx)
    for path, arcname in ctx.files:
        entry = _entry(path)
        if entry is not None:
            h.update(f"{arcname}\0{_entry_key(*entry)}\0".encode())
    return str(h.hexdigest())


def _tar(
    base_id: str, ctx: _Context, have: Mapping[str, str] | None = None
) -> tuple[Any, str, dict[str, str]]:
    """The build context as a tar (spooled to disk past 64 MB), the digest of the files read for
    it and their manifest (path -> entry key). Entries already in ``have`` are left out."""
    h = _start_digest(base_id, ctx)
    manifest: dict[str, str] = {}
    have = have or {}
    buf = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, arcname in ctx.files:
            entry = _entry(path)
            if entry is None:
                continue
            st, data = entry
            key = manifest[arcname] = _entry_key(st, data)
            h.update(f"{arcname}\0{key}\0".encode())
            if have.get(arcname) == key:
                continue
            info = tarfile.TarInfo(arcname)
            info.mode, info.mtime = st.st_mode & 0o7777, int(st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        extra = [(".dockerignore", f"/.dockerignore\n/{GENERATED_DOCKERFILE}\n".encode())]
        if ctx.dockerfile_name not in manifest:
            extra.append((ctx.dockerfile_name, ctx.dockerfile))
        for name, data in extra:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf, str(h.hexdigest()), manifest


# --------------------------------------------------------------------------- incremental builds


def _cache_dir() -> str:
    root = os.environ.get("TORCHX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torchx")
    return os.path.join(root, "docker-workspace")


def _lineage_key(base_id: str, workspace: Workspace, repo: str) -> str:
    """Identifies "this workspace on this base image": successive builds form one lineage."""
    projects = sorted(project_paths(workspace))
    return hashlib.sha256(json.dumps([base_id, projects, repo]).encode()).hexdigest()[:32]


def _load_lineage(key: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(_cache_dir(), f"{key}.json"), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _save_lineage(key: str, tag: str, manifest: dict[str, str], depth: int) -> None:
    """Remember the last build of a lineage (best effort: a failure only costs a full build)."""
    path = os.path.join(_cache_dir(), f"{key}.json")
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"tag": tag, "depth": depth, "files": manifest}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def _incremental_ok(prev: Mapping[str, str], manifest: Mapping[str, str]) -> bool:
    """True when laying the changed entries over the previous image gives exactly ``manifest``:
    nothing was deleted and no path changed kind (file, link, directory)."""
    if set(prev) - set(manifest):
        return False
    return all(prev[p][0] == k[0] for p, k in manifest.items() if p in prev)


def _tag(repo: str, digest: str) -> str:
    return f"{repo}:{digest[:_TAG_LEN]}"


# --------------------------------------------------------------------------- mixin


class DockerWorkspaceMixin(WorkspaceMixin[dict[str, str]]):
    """Builds each role's workspace into a content-keyed Docker image (see the module doc)."""

    def __init__(self, *args: Any, docker_client: Any | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__client = docker_client

    @property
    def _docker_client(self) -> Any:
        """The Docker SDK client, connected on first use."""
        if self.__client is None:
            self.__client = connect()
        return self.__client

    def workspace_opts(self) -> runopts:
        opts = runopts()
        opts.add(
            "image_repo",
            str,
            "repository workspace images are tagged in and pushed to (e.g."
            " `registry.example.com/me/torchx`); without it they stay local",
        )
        opts.add("quiet", bool, "do not stream docker build and push output", default=False)
        return opts

    def _base_image(self, role: Role) -> str:
        """The image the workspace patches, even after a dryrun replaced ``role.image``."""
        plan = self.workspace_builds().get(role.image)
        return plan.base_image if plan else _BASES.get(role.image, role.image)

    def dryrun_workspace_and_update_role(
        self, role: Role, cfg: Mapping[str, CfgVal], build_cache: dict[object, object]
    ) -> WorkspaceBuild | None:
        """Decide the content-keyed image without building, pulling or creating anything."""
        if not role.workspace:
            return None
        base = self._base_image(role)
        repo = str(cfg.get("image_repo") or LOCAL_REPO)
        note = ""
        try:
            base_id = image_id(self._docker_client, base)
        except DockerUnavailableError:
            base_id, note = None, "Docker not reachable: tag computed from the image name"
        if base_id is None:
            base_id = f"name:{base}"
            note = note or f"`{base}` is not local: it would be pulled first"
        tag = _tag(repo, workspace_digest(role.workspace, base_id))
        exists = not note and image_id(self._docker_client, tag) is not None
        role.image = tag
        _BASES[tag] = base
        push = tag if cfg.get("image_repo") else None
        return WorkspaceBuild(role.name, str(role.workspace), base, tag, not exists, push, note)

    def caching_build_workspace_and_update_role(
        self, role: Role, cfg: Mapping[str, CfgVal], build_cache: dict[object, object]
    ) -> None:
        """Build (only if no image has this content), push with ``image_repo``, set the image."""
        if not role.workspace:
            return
        base = self._base_image(role)
        repo = str(cfg.get("image_repo") or LOCAL_REPO)
        quiet = bool(cfg.get("quiet"))
        key = (str(role.workspace), base, repo)
        cached = build_cache.get(key)
        if isinstance(cached, str):
            role.image = cached
            return
        client = self._docker_client
        base_id = ensure_image(client, base, quiet)
        tag = _tag(repo, workspace_digest(role.workspace, base_id))
        if image_id(client, tag) is None:
            tag = self._build_new(role.workspace, base, base_id, repo, quiet)
        if cfg.get("image_repo"):
            self._push(tag, quiet)
        build_cache[key] = tag
        _BASES[tag] = base
        role.image = tag

    def _build_new(
        self, workspace: Workspace, base: str, base_id: str, repo: str, quiet: bool
    ) -> str:
        """Build the workspace's image; returns its tag (keyed by the files actually sent).

        With the generated Dockerfile, only the entries that changed since the lineage's last
        build are sent and laid over that image (when nothing was deleted), so a one-file change
        costs one small layer; every MAX_INCREMENTAL_LAYERS builds a full build flattens again.
        """
        client = self._docker_client
        ctx = _context(workspace)
        lineage = _lineage_key(base_id, workspace, repo)
        prev = _load_lineage(lineage) if ctx.dockerfile_name == GENERATED_DOCKERFILE else None
        if prev and (int(prev.get("depth", 0)) >= MAX_INCREMENTAL_LAYERS
                     or image_id(client, str(prev.get("tag"))) is None):
            prev = None
        tar, digest, manifest = _tar(base_id, ctx, prev["files"] if prev else None)
        if prev and not _incremental_ok(prev["files"], manifest):
            tar.close()
            prev = None
            tar, digest, manifest = _tar(base_id, ctx)
        tag = _tag(repo, digest)  # if files changed since hashing, name what is in the tar
        with tar:
            if image_id(client, tag) is None:
                parent = str(prev["tag"]) if prev else base
                how = ""
                if prev:
                    changed = sum(1 for p, k in manifest.items() if prev["files"].get(p) != k)
                    how = f" (incremental: {changed} of {len(manifest)} entries changed)"
                self._build(tar, ctx.dockerfile_name, tag, parent, how, quiet)
                depth = int(prev.get("depth", 0)) + 1 if prev else 0
                _save_lineage(lineage, tag, manifest, depth)
        return tag

    def _build(self, tar: Any, dockerfile: str, tag: str, base: str, how: str, quiet: bool) -> None:
        if not quiet:
            print(f"torchx: building workspace image {tag} from {base}{how}", file=sys.stderr)
        stream = self._docker_client.api.build(
            fileobj=tar,
            custom_context=True,
            dockerfile=dockerfile,
            tag=tag,
            buildargs={"IMAGE": base},
            rm=True,
            forcerm=True,
            decode=True,
        )
        tail: list[str] = []
        for chunk in stream:
            if "error" in chunk:
                detail = "".join(tail[-5:]).strip()
                raise WorkspaceError(
                    f"building workspace image {tag} failed: {str(chunk['error']).strip()}"
                    + (f"\n{detail}" if detail else "")
                )
            text = chunk.get("stream")
            if text:
                tail.append(text)
                if not quiet:
                    sys.stderr.write(text)
        if image_id(self._docker_client, tag) is None:
            raise WorkspaceError(f"building workspace image {tag} produced no image")

    def _push(self, tag: str, quiet: bool) -> None:
        repo, _, version = tag.rpartition(":")
        if not quiet:
            print(f"torchx: pushing {tag}", file=sys.stderr)
        fix = (f": check that `image_repo` `{repo}` names a registry this machine can reach and"
               " may push to (`docker login`), or leave `image_repo` unset to keep the image local")
        try:
            for chunk in self._docker_client.api.push(repo, tag=version, stream=True, decode=True):
                if "error" in chunk:
                    err = str(chunk["error"]).strip().splitlines()[0]
                    raise WorkspaceError(f"pushing {tag} failed ({err}){fix}")
                if not quiet and chunk.get("status") and "progress" not in chunk:
                    sys.stderr.write(f"{chunk.get('id', '')} {chunk['status']}\n".lstrip())
        except _docker().errors.DockerException as e:
            raise WorkspaceError(f"pushing {tag} failed ({_short(e)}){fix}") from None

