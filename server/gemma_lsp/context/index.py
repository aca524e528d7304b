"""The workspace symbol index: definitions of every source file in the workspace, found with the same
tree-sitter queries as the open documents, built in the background.

A worker process walks the workspace (respecting .gitignore files, skipping .git and huge files),
parses the files and sends their definitions back in batches; a thread in the server merges them. The
server's requests never wait for it: a lookup answers from what has been merged so far. Working in a
separate, lower-priority process keeps the parsing off the server's interpreter lock. Memory is
bounded: at most `max_files` files, `max_definitions` definitions, each rendered definition capped.
If a worker process cannot be started, the thread indexes in-process instead.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from gemma_lsp.lifetime import die_with_parent
from gemma_lsp.sandbox import hostfiles

from .languages import language_for, new_parser
from .symbols import Definition, extract_definitions

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1_000_000
BATCH_FILES = 32
ALWAYS_SKIPPED = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules"})

# One file's definitions as the worker sends them: (name, kind, line, end_line, text).
_Row = tuple[str, str, int, int, str]


@dataclass
class IndexStats:
    files: int = 0
    definitions: int = 0
    skipped_files: int = 0  # over the limits
    seconds: float = 0.0
    done: bool = False
    in_process: bool = False  # True when no worker process could be started


def iter_source_files(root: Path, max_files: int) -> Iterator[Path]:
    """Files under `root` in a supported language, minus what .gitignore files exclude."""
    specs: list[tuple[str, pathspec.PathSpec]] = []  # (directory relative to root, its .gitignore)
    count = 0
    for directory, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        specs = [(base, spec) for base, spec in specs if rel_dir == base or rel_dir.startswith(base + os.sep)
                 or base == ""]
        if ".gitignore" in filenames:
            # Through sandbox.hostfiles: a .gitignore linked to /dev/zero or a FIFO counts as empty.
            lines = hostfiles.read_text_or_empty(Path(directory), ".gitignore").splitlines()
            specs.append((rel_dir, pathspec.GitIgnoreSpec.from_lines(lines)))
        dirnames[:] = sorted(d for d in dirnames if d not in ALWAYS_SKIPPED
                             and not _ignored(specs, os.path.join(rel_dir, d), True))
        for name in sorted(filenames):
            rel = os.path.join(rel_dir, name)
            if language_for(None, name) is None or _ignored(specs, rel, False):
                continue
            yield Path(directory, name)
            count += 1
            if count >= max_files:
                return


def _ignored(specs: list[tuple[str, pathspec.PathSpec]], rel: str, is_dir: bool) -> bool:
    for base, spec in specs:
        inner = os.path.relpath(rel, base) if base else rel
        if spec.match_file(inner + "/" if is_dir else inner):
            return True
    return False


def definitions_in_file(path: Path) -> list[_Row] | None:
    """The definitions of one file, or None when it cannot be read or is over the size limit."""
    language = language_for(None, str(path))
    if language is None:
        return None
    try:
        # Regular files only, no link out of the file's folder, at most MAX_FILE_BYTES (a `.py` linked
        # to /dev/zero must not be read for ever): see sandbox/README.md.
        data = hostfiles.read_bytes(path.parent, path.name, MAX_FILE_BYTES)
    except OSError:
        return None
    tree = new_parser(language).parse(data)
    return [(d.name, d.kind, d.line, d.end_line, d.text)
            for d in extract_definitions(language, tree, data, "", limit=2000)]


def _worker(tasks: multiprocessing.Queue, results: multiprocessing.Queue, parent_pid: int) -> None:
    """The worker process: scan a workspace or single files, send back batches of definitions."""
    # Killed with the server, whatever ends it (SIGKILL included): otherwise a scan of a big workspace
    # goes on, reparented to init, long after its results have anyone to read them.
    die_with_parent(parent_pid)
    # The server may speak LSP on its stdout, which this process inherited: never write there.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        os.nice(10)  # typing in the editor comes first
    except OSError:
        pass
    while True:
        task = tasks.get()
        if task is None:
            return
        kind, payload, max_files = task
        paths = iter_source_files(Path(payload), max_files) if kind == "scan" else iter([Path(payload)])
        batch: list[tuple[str, list[_Row] | None]] = []
        for path in paths:
            batch.append((str(path), definitions_in_file(path)))
            if len(batch) >= BATCH_FILES:
                results.put(("files", batch))
                batch = []
        results.put(("files", batch))
        results.put(("finished", kind))


class WorkspaceIndex:
    def __init__(self, max_files: int = 20_000, max_definitions: int = 200_000,
                 use_process: bool = True) -> None:
        self.max_files = max_files
        self.max_definitions = max_definitions
        self.use_process = use_process
        self.stats = IndexStats()
        self._by_name: dict[str, list[Definition]] = {}
        self._by_file: dict[str, list[Definition]] = {}
        self._lock = threading.Lock()
        self._scanned = threading.Event()
        self._tasks: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._started_at = 0.0

    # -- public API ------------------------------------------------------------------------------------
    def start(self, root: Path) -> None:
        """Index `root` in the background; returns at once."""
        root = Path(root).resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"workspace folder does not exist: {root}")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gemma-lsp-index", daemon=True)
            self._thread.start()
        self._scanned.clear()
        self._started_at = time.perf_counter()
        self._tasks.put(("scan", str(root)))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the last started scan has been merged (for the CLI and tests)."""
        return self._scanned.wait(timeout)

    def update_file(self, path: Path | str) -> None:
        """Re-index one file (after a save or a file-watcher event); returns at once."""
        self._tasks.put(("file", str(path)))

    def remove_file(self, path: Path | str) -> None:
        self._merge(str(path), None)

    def lookup(self, name: str) -> list[Definition]:
        with self._lock:
            return list(self._by_name.get(name, ()))

    def close(self) -> None:
        self._tasks.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- background ------------------------------------------------------------------------------------
    def _run(self) -> None:
        results: multiprocessing.Queue | None = None
        tasks: multiprocessing.Queue | None = None
        if self.use_process:
            try:
                context = multiprocessing.get_context("spawn")
                tasks, results = context.Queue(), context.Queue()
                # Started from this thread, which lives as long as the worker should: the kernel's
                # parent-death signal fires when the thread that forked the worker ends.
                self._process = context.Process(target=_worker, args=(tasks, results, os.getpid()), daemon=True,
                                                name="gemma-lsp-index-worker")
                self._process.start()
            except (OSError, RuntimeError) as error:
                log.warning("workspace index: no worker process (%s); indexing in-process", error)
                self._process = None
        self.stats.in_process = self._process is None
        inflight: list[tuple[str, str]] = []  # tasks sent to the worker and not finished, in order
        while True:
            try:
                task = self._tasks.get(timeout=0.05 if inflight else None)
            except queue.Empty:
                task = ("poll", "")
            if task is None:
                if tasks is not None:
                    tasks.put(None)
                if self._process is not None:
                    self._process.join(timeout=2)
                    if self._process.is_alive():
                        self._process.terminate()  # still busy with a big scan: stop it
                return
            kind, payload = task
            if kind != "poll":
                if self._process is not None and tasks is not None:
                    tasks.put((kind, payload, self.max_files))
                    inflight.append((kind, payload))
                else:
                    self._index_in_process(kind, payload)
            if results is not None:
                del inflight[: self._drain(results)]  # the worker finishes tasks in order
                if inflight and self._process is not None and not self._process.is_alive():
                    log.warning("workspace index: the worker process died (exit code %s); indexing in-process",
                                self._process.exitcode)
                    self._process, tasks, results = None, None, None
                    self.stats.in_process = True
                    for kind, payload in inflight:
                        self._index_in_process(kind, payload)
                    inflight = []

    def _drain(self, results: multiprocessing.Queue, limit: int = 16) -> int:
        """Merge up to `limit` messages from the worker (then look at new tasks); returns how many
        tasks it finished."""
        finished = 0
        for _ in range(limit):
            try:
                kind, batch = results.get(timeout=0.05)
            except queue.Empty:
                return finished
            if kind == "files":
                for path, rows in batch:
                    self._merge(path, rows)
            else:
                finished += 1
                if batch == "scan":
                    self._finish_scan()
        return finished

    def _index_in_process(self, kind: str, payload: str) -> None:
        paths = iter_source_files(Path(payload), self.max_files) if kind == "scan" else iter([Path(payload)])
        for path in paths:
            self._merge(str(path), definitions_in_file(path))
            time.sleep(0)  # let request threads in
        if kind == "scan":
            self._finish_scan()

    def _finish_scan(self) -> None:
        self.stats.seconds = time.perf_counter() - self._started_at
        self.stats.done = True
        self._scanned.set()

    def _merge(self, path: str, rows: list[_Row] | None) -> None:
        """Replace one file's definitions (None: the file is gone or over the limits)."""
        uri = Path(path).as_uri()
        language = language_for(None, path)
        with self._lock:
            for old in self._by_file.pop(uri, ()):
                entries = self._by_name.get(old.name)
                if entries is not None:
                    entries[:] = [d for d in entries if d.uri != uri]
                    if not entries:
                        del self._by_name[old.name]
                self.stats.definitions -= 1
            if rows is None:
                self.stats.files = len(self._by_file)
                return
            room = self.max_definitions - self.stats.definitions
            if room <= 0 or (uri not in self._by_file and len(self._by_file) >= self.max_files):
                self.stats.skipped_files += 1
                return
            definitions = [Definition(name, kind, uri, line, end_line, text, language)
                           for name, kind, line, end_line, text in rows[:room]]
            self._by_file[uri] = definitions
            for definition in definitions:
                self._by_name.setdefault(definition.name, []).append(definition)
            self.stats.definitions += len(definitions)
            self.stats.files = len(self._by_file)
