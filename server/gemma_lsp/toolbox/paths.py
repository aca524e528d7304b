"""Workspace confinement for the file tools: resolving paths, the secrets deny list, .gitignore."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pathspec

from gemma_lsp.sandbox import hostfiles
from gemma_lsp.toolbox.base import ToolFailure

ALWAYS_SKIPPED = {".git", ".hg", ".svn"}
MAX_GITIGNORE_BYTES = 1_000_000


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """The real path `path` names inside `workspace`, after following every symlink.

    Raises ToolFailure for NUL bytes, and for anything that lands outside the workspace: `..`,
    absolute paths elsewhere, symlinks pointing out.
    """
    if "\0" in path:
        raise ToolFailure("the path contains a NUL byte")
    if not path.strip():
        path = "."
    candidate = Path(path) if os.path.isabs(path) else workspace / path
    real = Path(os.path.realpath(candidate))
    if real != workspace and workspace not in real.parents:
        raise ToolFailure(f"{path!r} is outside the workspace; only files under the workspace root "
                          "can be read")
    return real


def relative(workspace: Path, path: Path) -> str:
    rel = path.relative_to(workspace).as_posix()
    return rel or "."


class DenyList:
    """gitignore-style patterns for files that are never read (secrets)."""

    def __init__(self, patterns: tuple[str, ...] | list[str]) -> None:
        self.spec = pathspec.PathSpec.from_lines("gitwildmatch", patterns)

    def denies(self, rel: str) -> bool:
        return self.spec.match_file(rel)


class GitIgnore:
    """The .gitignore files of a workspace, applied relative to the folder each one sits in."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self._specs: dict[str, pathspec.PathSpec] = {}

    def _spec(self, folder_rel: str) -> pathspec.PathSpec | None:
        if folder_rel not in self._specs:
            # A .gitignore that is a FIFO, a device or a link out of the workspace counts as empty.
            text = hostfiles.read_text_or_empty(self.workspace, Path(folder_rel, ".gitignore"),
                                                MAX_GITIGNORE_BYTES)
            lines = text.splitlines()
            self._specs[folder_rel] = pathspec.PathSpec.from_lines("gitwildmatch", lines)
        return self._specs[folder_rel]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        parts = PurePosixPath(rel).parts
        if parts and parts[-1] in ALWAYS_SKIPPED:
            return True
        # Every ancestor folder's .gitignore gets a say, with the path relative to that folder.
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth]) or "."
            spec = self._spec(folder)
            sub = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if spec and spec.match_file(sub):
                return True
        return False


def walk(workspace: Path, start: Path) -> Iterator[tuple[str, bool]]:
    """(relative path, is_dir) under `start`, sorted, skipping ignored entries and never following a
    symlinked folder (a link may point anywhere, and one may be swapped in while we walk)."""
    ignore = GitIgnore(workspace)
    stack = [start]
    while stack:
        folder = stack.pop()
        try:
            entries = _entries(workspace, folder)
        except OSError:
            continue
        subfolders = []
        for name, is_dir in entries:
            path = folder / name
            rel = relative(workspace, path)
            if ignore.ignored(rel, is_dir):
                continue
            if is_dir:
                subfolders.append(path)
            yield rel, is_dir
        stack.extend(reversed(subfolders))


def _entries(workspace: Path, folder: Path) -> list[tuple[str, bool]]:
    """(name, is a real folder) in `folder`, listed through a descriptor opened without following
    links (sandbox.hostfiles.open_folder)."""
    fd = hostfiles.open_folder(workspace, folder)
    try:
        with os.scandir(fd) as listing:
            return sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing)
    finally:
        os.close(fd)
