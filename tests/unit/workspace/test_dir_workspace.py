"""Ignore rules, the directory copy and the directory workspace mixin."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from torchx.specs import Role, Workspace
from torchx.workspace import WorkspaceError
from torchx.workspace.dir_workspace import DirWorkspaceMixin, IgnoreRules, copy_workspace, walk


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.mark.parametrize(
    "pattern,path,ignored",
    [
        ("*.pyc", "a.pyc", True),
        ("*.pyc", "sub/a.pyc", False),  # `*` does not cross directories
        ("**/*.pyc", "sub/deep/a.pyc", True),
        ("**/*.pyc", "a.pyc", True),
        ("build", "build/x/y.o", True),  # a directory covers its contents
        ("/build", "build", True),
        ("build", "src/build", False),
        ("data/?.csv", "data/1.csv", True),
        ("data/?.csv", "data/12.csv", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("# comment", "# comment", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
    ],
)
def test_ignore_patterns(pattern: str, path: str, ignored: bool) -> None:
    assert IgnoreRules.parse(pattern).ignored(path) is ignored


def test_last_match_wins_and_negation_reincludes() -> None:
    rules = IgnoreRules.parse("*.log\n!keep.log\nlogs\n!logs/important.txt\n")
    assert rules.ignored("x.log")
    assert not rules.ignored("keep.log")
    assert rules.ignored("logs/a.txt")
    assert not rules.ignored("logs/important.txt")


def test_walk_reincludes_inside_ignored_dir(tmp_path: Path) -> None:
    tree(tmp_path, {"logs/a.txt": "a", "logs/important.txt": "i", "src/m.py": "m"})
    rules = IgnoreRules.parse("logs\n!logs/important.txt\n")
    assert [rel for _, rel in walk(str(tmp_path), rules)] == ["logs/important.txt", "src/m.py"]


def test_copy_workspace_honours_torchxignore(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {
        ".torchxignore": "*.ckpt\n**/__pycache__\n",
        "train.py": "print(1)\n",
        "model.ckpt": "big",
        "pkg/__pycache__/m.pyc": "x",
        "pkg/m.py": "m",
    })
    (src / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink("train.py", src / "link.py")
    (src / "empty").mkdir()
    dst = tmp_path / "dst"
    copy_workspace(str(src), str(dst))
    got = sorted(str(p.relative_to(dst)) for p in dst.rglob("*"))
    assert got == [".torchxignore", "empty", "link.py", "pkg", "pkg/m.py", "run.sh", "train.py"]
    assert os.readlink(dst / "link.py") == "train.py"
    assert os.stat(dst / "run.sh").st_mode & 0o777 == 0o755
    assert (dst / "train.py").read_text() == "print(1)\n"


def test_copy_workspace_missing_source_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist.*--workspace"):
        copy_workspace(str(tmp_path / "nope"), str(tmp_path / "dst"))


class _Dir(DirWorkspaceMixin):
    pass


def test_dir_mixin_dryrun_has_no_side_effects_then_build_copies(tmp_path: Path) -> None:
    src = tree(tmp_path / "proj", {"a.py": "a"})
    job_dir = tmp_path / "job"
    role = Role("r", image="ignored", workspace=Workspace({str(src): ""}))
    mixin = _Dir()
    cfg = {"job_dir": str(job_dir)}
    mixin.build_workspaces([role], cfg, dryrun=True)
    assert role.image == str(job_dir) and not job_dir.exists()
    assert mixin.workspace_builds()[str(job_dir)].base_image == "ignored"
    mixin.build_workspaces([role], cfg, dryrun=False)
    assert (job_dir / "a.py").read_text() == "a"
    assert "job_dir" in mixin.workspace_opts()


def test_walk_skips_a_subdirectory_removed_while_walking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b")
    real_scandir = os.scandir

    def scandir_after_removal(path: str | int) -> object:
        if isinstance(path, str) and os.path.basename(path) == "sub":  # removed before entered
            shutil.rmtree(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir_after_removal)
    assert [rel for _, rel in walk(str(tmp_path), IgnoreRules.load(str(tmp_path), ".x"))] == ["a.txt"]


def test_walk_of_a_missing_root_says_which_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(WorkspaceError, match=r"workspace directory `.*nope` does not exist"):
        list(walk(str(missing), IgnoreRules.load(str(tmp_path), ".x")))


@pytest.mark.timeout(30)
def test_copy_workspace_leaves_out_sockets_and_fifos(tmp_path: Path) -> None:
    """A FIFO would block the copy and a socket cannot be opened (a workspace of /tmp has both)."""
    import socket

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "train.py").write_text("print(1)\n")
    os.mkfifo(src / "pipe")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(src / "listener"))
        copy_workspace(str(src), str(dst))
    assert sorted(p.name for p in dst.iterdir()) == ["train.py"]
