"""Reading workspace files on the host, where the repository is untrusted (see README.md here).

Every host-side read of a file the repository controls (tool catalog, .gitignore, pyproject.toml,
test files, read_file) goes through `read_bytes`/`read_text`, which promise:
- the file lies inside the workspace: symlinks are resolved once, the result must be under the
  workspace, and then every component is opened again with O_NOFOLLOW relative to the folder before
  it, so a link swapped in after the check (a race) makes the open fail instead of leaving the tree;
- it is a regular file: FIFOs, sockets and devices are refused before they are opened (opening a FIFO
  blocks, reading /dev/zero never ends), and the opened descriptor is checked again;
- at most `max_bytes` are read.
Failures raise UnsafeFile (an OSError, so callers that already skip unreadable files keep doing so)
with a message that says what was refused and why.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

DEFAULT_MAX_BYTES = 1_000_000  # config-like files (.gitignore, pyproject.toml, tool files)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class UnsafeFile(OSError):
    """A workspace file that is not read: outside the workspace, not a regular file, or too big."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(errno.EPERM, f"{os.fspath(path)}: {reason}")
        self.reason = reason

    def __str__(self) -> str:
        return str(self.args[1])


def kind_of(mode: int) -> str:
    """Words for a file type, for messages."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink")):
        if test(mode):
            return name
    return "not a regular file"


def inside(workspace: Path, real: Path) -> bool:
    return real == workspace or workspace in real.parents


def _resolve(workspace: Path, path: str | os.PathLike[str]) -> tuple[Path, tuple[str, ...]]:
    """(the real workspace, the components of `path`'s real location under it); UnsafeFile if out."""
    workspace = Path(os.path.realpath(workspace))
    real = Path(os.path.realpath(Path(workspace, path)))
    if not inside(workspace, real):
        raise UnsafeFile(path, "leads outside the workspace (symlink or ..) and is not read")
    return workspace, real.relative_to(workspace).parts


def _walk_down(workspace: Path, parts: tuple[str, ...], path: str | os.PathLike[str]) -> int:
    """A descriptor of workspace/parts[0]/..., each folder opened with O_NOFOLLOW below the last."""
    folder = os.open(workspace, _DIR_FLAGS)
    try:
        for part in parts:
            child = _subfolder(folder, part, path)
            os.close(folder)
            folder = child
    except BaseException:
        os.close(folder)
        raise
    return folder


def open_regular(workspace: Path, path: str | os.PathLike[str]) -> int:
    """An O_RDONLY descriptor of the regular file `path` (absolute, or relative to `workspace`).

    Symlinks that stay inside the workspace are followed; anything that leads out, or is not a regular
    file, raises UnsafeFile without being opened. The caller closes the descriptor.
    """
    workspace, parts = _resolve(workspace, path)
    if not parts:
        raise UnsafeFile(path, "is the workspace folder, not a file")
    folder = _walk_down(workspace, parts[:-1], path)
    try:
        return _open_leaf(folder, parts[-1], path)
    finally:
        os.close(folder)


def open_folder(workspace: Path, path: str | os.PathLike[str]) -> int:
    """An O_RDONLY descriptor of the folder `path` inside the workspace, for os.scandir(fd): the
    listing is of that folder even if a component is swapped for a link meanwhile."""
    workspace, parts = _resolve(workspace, path)
    return _walk_down(workspace, parts, path)


def _subfolder(folder: int, name: str, path: str | os.PathLike[str]) -> int:
    """Open the subfolder `name` of `folder` without following a link."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=folder)
    except OSError as error:
        # O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP): it was a folder when the
        # path was resolved, so someone swapped a link in.
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(folder, name):
            raise UnsafeFile(path, "changed while being opened (a folder became a symlink); not read"
                             ) from None
        raise


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_leaf(folder: int, name: str, path: str | os.PathLike[str]) -> int:
    try:
        before = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{os.fspath(path)} does not exist") from None
    if not stat.S_ISREG(before.st_mode):
        raise UnsafeFile(path, f"is {kind_of(before.st_mode)}, not a regular file; refused")
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFile(path, "became a symlink while being opened; not read") from None
        raise
    after = os.fstat(fd)
    if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        os.close(fd)
        raise UnsafeFile(path, "was replaced while being opened; not read")
    return fd


def read_bytes(workspace: Path, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
               *, truncate: bool = False) -> bytes:
    """The file's content. Over `max_bytes`: the first `max_bytes` if `truncate`, else UnsafeFile."""
    fd = open_regular(workspace, path)
    try:
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        if not truncate:
            raise UnsafeFile(path, f"is larger than {max_bytes} bytes; not read")
        data = data[:max_bytes]
    return data


def read_text(workspace: Path, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The file as text (invalid UTF-8 replaced); UnsafeFile when over `max_bytes`."""
    return read_bytes(workspace, path, max_bytes).decode("utf-8", "replace")


def read_text_or_empty(workspace: Path, path: str | os.PathLike[str],
                       max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Like read_text, "" when the file is missing or refused (for optional config files)."""
    try:
        return read_text(workspace, path, max_bytes)
    except OSError:
        return ""


def is_regular(workspace: Path, path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a regular file inside the workspace (links resolved, but not out)."""
    real = Path(os.path.realpath(Path(workspace, path)))
    if not inside(Path(os.path.realpath(workspace)), real):
        return False
    try:
        return stat.S_ISREG(os.stat(real, follow_symlinks=False).st_mode)
    except OSError:
        return False
