"""Directory workspaces: copy a project honouring ignore files (``.torchxignore``).

Ignore files use ``.dockerignore`` syntax: one pattern per line relative to the project root,
``*``/``?``/``[...]`` within a path component, ``**`` across components, ``!`` re-includes,
``#`` comments; a pattern that matches a directory excludes everything under it; the last
matching pattern wins. :py:func:`walk` is shared with the Docker workspace.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from torchx.specs.api import CfgVal, Role, Workspace, runopts
from torchx.workspace.api import WorkspaceBuild, WorkspaceError, WorkspaceMixin, project_paths

__all__ = ["DirWorkspaceMixin", "IgnoreRules", "copy_workspace", "walk"]

TORCHXIGNORE = ".torchxignore"


def _translate(pattern: str) -> str:
    """A regex for one ignore pattern (Go ``filepath.Match`` plus ``**``)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if pattern.startswith("/", i):  # `**/` matches zero or more directories
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith(("!", "^")):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass
class IgnoreRules:
    """Compiled ignore patterns: ``(regex, excludes)`` in file order."""

    rules: list[tuple[re.Pattern[str], bool]]

    @staticmethod
    def parse(text: str) -> IgnoreRules:
        rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pat = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
            if pat in ("", "."):
                continue
            # a match on a directory covers everything beneath it
            rules.append((re.compile("^" + _translate(pat) + "(?:/.*)?$"), exclude))
        return IgnoreRules(rules)

    @staticmethod
    def load(root: str, filename: str) -> IgnoreRules:
        """Rules from ``root/filename``; none if the file does not exist."""
        try:
            with open(os.path.join(root, filename), encoding="utf-8") as f:
                return IgnoreRules.parse(f.read())
        except FileNotFoundError:
            return IgnoreRules([])

    def has_negations(self) -> bool:
        return any(not exclude for _, exclude in self.rules)

    def ignored(self, rel: str) -> bool:
        """True if the ``/``-separated path ``rel`` (relative to the root) is excluded."""
        result = False
        for regex, exclude in self.rules:
            if result != exclude and regex.match(rel):
                result = exclude
        return result


def walk(root: str, rules: IgnoreRules) -> Iterator[tuple[str, str]]:
    """``(absolute path, relative path)`` of every file and symlink not ignored, sorted.

    Directories are yielded only when empty (so they survive a copy). Excluded directories are
    not descended into unless a ``!`` pattern could re-include something inside them.
    """
    prune = not rules.has_negations()

    def rec(abs_dir: str, rel_dir: str) -> Iterator[tuple[str, str]]:
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except FileNotFoundError:
            if rel_dir:  # a subdirectory removed while we walk is simply no longer there
                return
            raise WorkspaceError(f"workspace directory `{abs_dir}` does not exist") from None
        except OSError as e:
            raise WorkspaceError(f"cannot read workspace directory `{abs_dir}`: {e}") from e
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            ignored = rules.ignored(rel)
            if entry.is_dir(follow_symlinks=False):
                if ignored and prune:
                    continue
                sub = list(rec(entry.path, rel))
                if sub:
                    yield from sub
                elif not ignored and os.path.isdir(entry.path):  # empty, and still there
                    yield entry.path, rel
            elif not ignored:
                yield entry.path, rel

    yield from rec(root, "")


def copy_workspace(src: str, dst: str) -> None:
    """Copy directory ``src`` into ``dst`` (created if needed) honouring ``src/.torchxignore``.

    Symlinks are copied as links, file modes are kept, sockets, FIFOs and devices are left out;
    WorkspaceError if ``src`` is missing.
    """
    (root, _), = project_paths(Workspace({src: ""}))
    rules = IgnoreRules.load(root, TORCHXIGNORE)
    os.makedirs(dst, exist_ok=True)
    for path, rel in walk(root, rules):
        target = os.path.join(dst, rel)
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if os.path.lexists(target):
                os.unlink(target)
            os.symlink(os.readlink(path), target)
        elif os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        elif os.path.isfile(path):  # not sockets, FIFOs or devices: a FIFO would block the copy
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(path, target)


class DirWorkspaceMixin(WorkspaceMixin[None]):
    """Copies each role's workspace into ``job_dir`` and runs the role from there."""

    def workspace_opts(self) -> runopts:
        opts = runopts()
        opts.add(
            "job_dir",
            str,
            "directory the workspace is copied into; the role runs from it (image = job_dir)",
        )
        return opts

    def _job_dir(self, role: Role, cfg: Mapping[str, CfgVal]) -> str | None:
        job_dir = cfg.get("job_dir")
        return os.path.abspath(os.path.expanduser(str(job_dir))) if job_dir else None

    def dryrun_workspace_and_update_role(
        self, role: Role, cfg: Mapping[str, CfgVal], build_cache: dict[object, object]
    ) -> WorkspaceBuild | None:
        job_dir = self._job_dir(role, cfg)
        if not role.workspace or job_dir is None:
            return None
        project_paths(role.workspace)
        plan = WorkspaceBuild(role.name, str(role.workspace), role.image, job_dir, build=True,
                              note="copy")
        role.image = job_dir
        return plan

    def caching_build_workspace_and_update_role(
        self, role: Role, cfg: Mapping[str, CfgVal], build_cache: dict[object, object]
    ) -> None:
        job_dir = self._job_dir(role, cfg)
        if not role.workspace or job_dir is None:
            return
        key = ("dir", str(role.workspace), job_dir)
        if key not in build_cache:
            for src, dst in project_paths(role.workspace):
                copy_workspace(src, os.path.join(job_dir, dst) if dst else job_dir)
            build_cache[key] = job_dir
        role.image = job_dir
