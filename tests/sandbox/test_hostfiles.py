"""sandbox.hostfiles: the one way the host reads a workspace file (see sandbox/README.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gemma_lsp.sandbox import hostfiles
from gemma_lsp.sandbox.hostfiles import UnsafeFile


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.txt").write_text("inside\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    return root


def test_reads_a_regular_file_and_links_that_stay_inside(ws):
    (ws / "alias").symlink_to("pkg")
    (ws / "b.txt").symlink_to("pkg/a.txt")
    assert hostfiles.read_text(ws, "pkg/a.txt") == "inside\n"
    assert hostfiles.read_text(ws, "alias/a.txt") == "inside\n"
    assert hostfiles.read_bytes(ws, ws / "b.txt") == b"inside\n"


@pytest.mark.parametrize("target", ["../secret.txt", "/dev/zero", "/dev/stdin", "/etc/passwd"])
def test_links_out_of_the_workspace_are_refused(ws, target):
    (ws / "link").symlink_to(target)
    with pytest.raises(UnsafeFile, match="outside the workspace"):
        hostfiles.read_bytes(ws, "link")
    assert hostfiles.read_text_or_empty(ws, "link") == ""
    assert not hostfiles.is_regular(ws, "link")


def test_fifos_and_folders_are_refused_without_opening_them(ws):
    os.mkfifo(ws / "pipe")  # opening it for reading would block: the refusal comes first
    with pytest.raises(UnsafeFile, match="FIFO"):
        hostfiles.read_bytes(ws, "pipe")
    with pytest.raises(UnsafeFile, match="folder"):
        hostfiles.read_bytes(ws, "pkg")


def test_size_cap_refuses_or_truncates(ws):
    (ws / "big").write_bytes(b"x" * 5000)
    with pytest.raises(UnsafeFile, match="larger than 1000 bytes"):
        hostfiles.read_bytes(ws, "big", 1000)
    assert hostfiles.read_bytes(ws, "big", 1000, truncate=True) == b"x" * 1000


def test_a_missing_file_is_file_not_found(ws):
    with pytest.raises(FileNotFoundError):
        hostfiles.read_bytes(ws, "pkg/missing")


def test_a_folder_that_becomes_a_link_between_check_and_open_is_refused(ws, monkeypatch, tmp_path):
    # Simulate the race deterministically: resolve sees the real folder, then it is swapped for a link.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.txt").write_text("secret\n")
    real_realpath = os.path.realpath

    def realpath_then_swap(path, *args, **kwargs):
        resolved = real_realpath(path, *args, **kwargs)
        if str(path).endswith("a.txt") and (ws / "pkg").is_dir() and not (ws / "pkg").is_symlink():
            os.rename(ws / "pkg", ws / "pkg.old")
            (ws / "pkg").symlink_to(tmp_path / "elsewhere")
        return resolved

    monkeypatch.setattr(hostfiles.os.path, "realpath", realpath_then_swap)
    with pytest.raises(UnsafeFile, match="became a symlink"):
        hostfiles.read_bytes(ws, "pkg/a.txt")


def test_a_folder_is_listed_through_a_descriptor_that_never_followed_a_link(ws, monkeypatch, tmp_path):
    (ws / "out").symlink_to(tmp_path)
    with pytest.raises(UnsafeFile, match="outside the workspace"):
        hostfiles.open_folder(ws, "out")
    (tmp_path / "elsewhere").mkdir()
    real_realpath = os.path.realpath

    def realpath_then_swap(path, *args, **kwargs):
        resolved = real_realpath(path, *args, **kwargs)
        if str(path).endswith("pkg") and not (ws / "pkg").is_symlink():
            os.rename(ws / "pkg", ws / "pkg.old")
            (ws / "pkg").symlink_to(tmp_path / "elsewhere")
        return resolved

    monkeypatch.setattr(hostfiles.os.path, "realpath", realpath_then_swap)
    with pytest.raises(UnsafeFile, match="became a symlink"):
        hostfiles.open_folder(ws, "pkg")
