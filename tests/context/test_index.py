"""The workspace index: .gitignore files respected, every language indexed, updates and removals, bounded
memory, the worker process and the in-process fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemma_lsp.context.index import WorkspaceIndex, iter_source_files

FILES = {
    "app/main.py": "def run(argv):\n    '''Entry point.'''\n    return 0\n",
    "web/cart.js": "export function addItem(cart, item) { cart.push(item); }\n",
    "web/types.ts": "export interface Cart { items: string[] }\n",
    "web/View.tsx": "export function View() { return <div/>; }\n",
    "srv/store.go": "package srv\n\nfunc Open(path string) error { return nil }\n",
    "core/lib.rs": "pub fn checksum(data: &[u8]) -> u32 { 0 }\n",
    "core/Main.java": "class Main { static int twice(int x) { return 2 * x; } }\n",
    "native/buf.c": "int buf_len(const char *s) { return 0; }\n",
    "native/mat.cpp": "namespace m { class Grid {}; }\n",
    "build/generated.py": "def generated(): pass\n",
    "app/secret_gen.py": "def secret(): pass\n",
    "web/node_modules/dep/index.js": "function dependency() {}\n",
    "app/sub/skipped.py": "def skipped(): pass\n",
    "README.md": "# not code\n",
}


def _workspace(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / ".gitignore").write_text("build/\n*_gen.py\n")
    (root / "app" / "sub" / ".gitignore").write_text("skipped.py\n")
    (root / ".git").mkdir()
    (root / ".git" / "hook.py").write_text("def hook(): pass\n")
    return root


def test_walk_respects_gitignore_files(tmp_path):
    root = _workspace(tmp_path)
    found = sorted(str(p.relative_to(root)) for p in iter_source_files(root, 1000))
    assert found == sorted(["app/main.py", "web/cart.js", "web/types.ts", "web/View.tsx", "srv/store.go",
                            "core/lib.rs", "core/Main.java", "native/buf.c", "native/mat.cpp"])


@pytest.mark.parametrize("use_process", [True, False], ids=["worker-process", "in-process"])
def test_index_lookup_update_remove(tmp_path, use_process):
    root = _workspace(tmp_path)
    index = WorkspaceIndex(use_process=use_process)
    index.start(root)
    try:
        assert index.wait(60)
        assert index.stats.in_process is not use_process
        for name in ["run", "addItem", "Cart", "View", "Open", "checksum", "twice", "buf_len", "Grid"]:
            assert len(index.lookup(name)) == 1, name
        assert index.lookup("generated") == [] and index.lookup("hook") == [] and index.lookup("skipped") == []
        definition = index.lookup("run")[0]
        assert definition.uri == (root / "app/main.py").as_uri() and definition.line == 0
        assert definition.text == "def run(argv):\n    '''Entry point.'''\n    ..."

        (root / "app/main.py").write_text("def start(argv):\n    return 1\n")
        index.update_file(root / "app/main.py")
        (root / "core/lib.rs").unlink()
        index.remove_file(root / "core/lib.rs")  # what a file watcher reports
        assert index.lookup("checksum") == []
        index.start(root)  # a rescan after the update: wait() then covers both
        assert index.wait(60)
        assert index.lookup("run") == [] and len(index.lookup("start")) == 1
        assert index.lookup("checksum") == []
    finally:
        index.close()


def test_limits_bound_files_and_definitions(tmp_path):
    for i in range(6):
        (tmp_path / f"m{i}.py").write_text("".join(f"def f{i}_{j}(): pass\n" for j in range(10)))
    index = WorkspaceIndex(max_files=4, max_definitions=25, use_process=False)
    index.start(tmp_path)
    index.wait(30)
    index.close()
    assert index.stats.files <= 4
    assert index.stats.definitions <= 25
    assert sum(len(index.lookup(f"f{i}_{j}")) for i in range(6) for j in range(10)) == index.stats.definitions


def test_missing_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(NotADirectoryError, match="does not exist"):
        WorkspaceIndex().start(tmp_path / "nope")


def test_a_dead_worker_falls_back_to_in_process(tmp_path):
    import os
    import signal
    import time

    root = _workspace(tmp_path)
    index = WorkspaceIndex()
    index.start(root)
    deadline = time.monotonic() + 30
    while (index._process is None or index._process.pid is None) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(index._process.pid, signal.SIGKILL)  # the worker this test started
    index._process.join(10)
    index.start(root)  # sent to a dead worker: must still be indexed
    try:
        assert index.wait(60)
        deadline = time.monotonic() + 30
        while not index.stats.in_process and time.monotonic() < deadline:
            time.sleep(0.05)
        index.start(root)
        assert index.wait(60)
        assert index.stats.in_process
        assert len(index.lookup("checksum")) == 1
    finally:
        index.close()
