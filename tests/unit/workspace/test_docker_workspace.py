"""The Docker workspace's content key and build context (no Docker Engine needed)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from torchx.specs import Role, Workspace
from torchx.workspace import WorkspaceError
from torchx.workspace.docker_workspace import (
    DEFAULT_DOCKERFILE,
    GENERATED_DOCKERFILE,
    DockerWorkspaceMixin,
    _context,
    _incremental_ok,
    _tar,
    workspace_digest,
)


class NoImages:
    """A Docker client with no images that fails on anything but a lookup."""

    class images:
        @staticmethod
        def get(name: str) -> Any:
            import docker.errors

            raise docker.errors.ImageNotFound(name)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"dryrun touched docker: {name}")


def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir(parents=True)
    (tmp_path / "train.py").write_text("print('v1')\n")
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    (tmp_path / "notes.log").write_text("log\n")
    (tmp_path / ".dockerignore").write_text("*.log\n")
    return tmp_path


def digest(p: Path) -> str:
    return workspace_digest(Workspace({str(p): ""}), "sha256:base")


def test_digest_follows_content_mode_and_base_but_not_ignored_files(tmp_path: Path) -> None:
    p = project(tmp_path)
    d0 = digest(p)
    assert digest(p) == d0
    (p / "notes.log").write_text("changed, but ignored\n")
    assert digest(p) == d0
    (p / "train.py").write_text("print('v2')\n")
    d1 = digest(p)
    assert d1 != d0
    os.chmod(p / "train.py", 0o755)
    assert digest(p) != d1
    assert workspace_digest(Workspace({str(p): ""}), "sha256:other") != digest(p)


def test_dockerfile_torchx_is_used_and_keyed(tmp_path: Path) -> None:
    p = project(tmp_path)
    d0 = digest(p)
    (p / "Dockerfile.torchx").write_text("ARG IMAGE\nFROM $IMAGE\nCOPY train.py /app/\n")
    ctx = _context(Workspace({str(p): ""}))
    assert ctx.dockerfile_name == "Dockerfile.torchx"
    assert digest(p) != d0


def test_context_tar_maps_projects_and_excludes_ignored(tmp_path: Path) -> None:
    a = project(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    (b / "data.txt").write_text("d")
    ws = Workspace({str(a): "", str(b): "extra/b"})
    ctx = _context(ws)
    buf, dig, manifest = _tar("sha256:base", ctx)
    assert sorted(manifest) == ["extra/b/data.txt", "pkg/m.py", "train.py"]
    assert dig == workspace_digest(ws, "sha256:base")
    with tarfile.open(fileobj=io.BytesIO(buf.read())) as t:
        names = set(t.getnames())
        dockerignore = t.extractfile(".dockerignore").read().decode()  # type: ignore[union-attr]
        dockerfile = t.extractfile(GENERATED_DOCKERFILE).read()  # type: ignore[union-attr]
    assert names == {"train.py", "pkg/m.py", "extra/b/data.txt", ".dockerignore",
                     GENERATED_DOCKERFILE}
    assert dockerfile == DEFAULT_DOCKERFILE
    assert GENERATED_DOCKERFILE in dockerignore  # never COPYed into the image


class _Mixin(DockerWorkspaceMixin):
    pass


def test_dryrun_sets_content_keyed_image_without_building(tmp_path: Path) -> None:
    p = project(tmp_path)
    role = Role("r", image="local/base:1", workspace=Workspace({str(p): ""}))
    mixin = _Mixin(docker_client=NoImages())
    mixin.build_workspaces([role], {"image_repo": "127.0.0.1:5050/me"}, dryrun=True)
    assert role.image.startswith("127.0.0.1:5050/me:")
    plan = mixin.workspace_builds()[role.image]
    assert plan.base_image == "local/base:1" and plan.build and plan.push == role.image
    assert "would be pulled" in plan.describe()
    # a second dryrun of the same role still patches the original image, not the dryrun's tag
    mixin.build_workspaces([role], {"image_repo": "127.0.0.1:5050/me"}, dryrun=True)
    assert mixin.workspace_builds()[role.image].base_image == "local/base:1"


def test_missing_workspace_path_is_one_clear_error(tmp_path: Path) -> None:
    role = Role("r", image="x", workspace=Workspace({str(tmp_path / "gone"): ""}))
    with pytest.raises(WorkspaceError, match=r"workspace `.*gone` does not exist"):
        _Mixin(docker_client=NoImages()).build_workspaces([role], {}, dryrun=True)


def test_incremental_context_holds_only_changed_entries(tmp_path: Path) -> None:
    p = project(tmp_path)
    ws = Workspace({str(p): ""})
    _, d0, m0 = _tar("sha256:base", _context(ws))
    (p / "train.py").write_text("print('v2')\n")
    (p / "new.py").write_text("n\n")
    buf, d1, m1 = _tar("sha256:base", _context(ws), have=m0)
    assert d1 == workspace_digest(ws, "sha256:base") != d0  # the key covers every file
    with tarfile.open(fileobj=io.BytesIO(buf.read())) as t:
        sent = set(t.getnames()) - {".dockerignore", GENERATED_DOCKERFILE}
    assert sent == {"train.py", "new.py"}
    assert _incremental_ok(m0, m1)
    (p / "pkg" / "m.py").unlink()
    _, _, m2 = _tar("sha256:base", _context(ws))
    assert not _incremental_ok(m1, m2)  # a deletion needs a full build
    os.symlink("train.py", p / "pkg" / "m.py")
    _, _, m3 = _tar("sha256:base", _context(ws))
    assert not _incremental_ok(m1, m3)  # so does a file that became a link


def test_dryrun_image_is_rebuilt_from_its_base_by_another_instance(tmp_path: Path) -> None:
    p = project(tmp_path)
    role = Role("r", image="local/base:1", workspace=Workspace({str(p): ""}))
    _Mixin(docker_client=NoImages()).build_workspaces([role], {}, dryrun=True)
    assert _Mixin(docker_client=NoImages())._base_image(role) == "local/base:1"


def test_modules_import_without_the_docker_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['docker'] = None\n"  # any `import docker` now fails
        "import torchx.workspace.docker_workspace as dw, torchx.schedulers.docker_scheduler\n"
        "from torchx.specs import TorchXError\n"
        "try:\n    dw.connect()\nexcept TorchXError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'torchx[docker]'" in out.stdout


def test_a_file_deleted_while_the_workspace_is_read_is_left_out(tmp_path: Path) -> None:
    """A busy directory (e.g. /tmp) changes under the scan: a vanished file is not an error."""
    (tmp_path / "keep.py").write_text("print('kept')\n")
    (tmp_path / "gone.tmp").write_text("short-lived\n")
    ws = Workspace({str(tmp_path): ""})
    ctx = _context(ws)
    assert [a for _, a in ctx.files] == ["gone.tmp", "keep.py"]
    (tmp_path / "gone.tmp").unlink()
    buf, digest, manifest = _tar("sha256:base", ctx)
    assert list(manifest) == ["keep.py"]
    with tarfile.open(fileobj=buf) as tar:
        assert "gone.tmp" not in tar.getnames() and "keep.py" in tar.getnames()
    assert digest == workspace_digest(ws, "sha256:base")
