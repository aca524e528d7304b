"""The language server: settings, the engine's lifecycle, status, logging; features register here.

Handlers stay thin: each feature lives in its own module under gemma_lsp.lsp, exposes
`register(server)` and is listed in FEATURES. They are imported statically: they are part of the
package, so one that cannot be imported is a broken install and the server does not start (with the
traceback on stderr) rather than serve without a feature no one is told is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gemma_lsp import __version__
from gemma_lsp.client_terms import identify, set_client, setting_name
from gemma_lsp.config import Settings, cache_dir
from gemma_lsp.context.builder import ContextBuilder
from gemma_lsp.context.cache import CompletionCache
from gemma_lsp.context.documents import Document, DocumentStore
from gemma_lsp.context.index import WorkspaceIndex
from gemma_lsp.engine.base import CancelToken, Engine, ModelUnavailable
from gemma_lsp.engine.factory import create_engine
from gemma_lsp.gemma4.tokens import estimate_tokens
from gemma_lsp.lifetime import find_process, process_gone
from gemma_lsp.logs import apply_log_file
from gemma_lsp.lsp import (
    code_actions,
    completion,
    completion_fallback,
    context_command,
    debug,
    documents,
    next_edit,
)
from gemma_lsp.lsp.errors import DocumentNotOpen
from gemma_lsp.lsp.progress import Progress
from gemma_lsp.lsp.protocol import GemmaProtocol, exit_process, serve_stdio, serve_tcp
from gemma_lsp.memory import return_freed_memory_to_os

if TYPE_CHECKING:
    from gemma_lsp.sandbox import SandboxStatus  # imported when probed: it is not needed to start serving

log = logging.getLogger(__name__)

# Feature modules, each with `register(server)` and, where what it offers depends on the client,
# `on_initialize(server, params)` (called at initialize, before pygls computes the capabilities).
# Order is the order of registration.
FEATURES = (documents, completion, completion_fallback, code_actions, debug, context_command, next_edit)
# How often the server looks whether the editor's process (initialize's processId) is still there.
CLIENT_POLL_SECONDS = 3.0


class GemmaServer(LanguageServer):
    def __init__(self, settings: Settings | None = None, allow_download: bool = True) -> None:
        # GemmaProtocol answers malformed traffic and enforces the LSP lifecycle (lsp/protocol.py).
        super().__init__("gemma-lsp", __version__, protocol_cls=GemmaProtocol)
        self.settings = settings or Settings()
        self.allow_download = allow_download
        self.workspace_root: Path | None = None
        self.cache_dir: Path = cache_dir()
        self.state = "starting"
        self.state_message = ""
        self._engine: Engine | None = None
        self._engine_key: tuple | None = None
        self._load_task: asyncio.Task | None = None
        self._generation = 0  # bumped by every (re)load; an outdated load discards what it made
        self.model_error: ModelUnavailable | None = None
        self._init_problems: list[str] = []
        self.sandbox: SandboxStatus | None = None  # once probed
        # The one store of open documents (text, version, incrementally updated tree), in the position
        # encoding negotiated at initialize; pygls' workspace keeps no copy (lsp/protocol.py).
        self.documents = DocumentStore()
        self.index: WorkspaceIndex | None = None
        self.completion_cache = CompletionCache()
        self.next_edit_running: dict[str, CancelToken] = {}  # uri -> the running next-edit prediction's cancel
        self.context_builder = ContextBuilder(self.documents, estimate_tokens)
        self._busy = 0
        self._ready_message = ""
        self._client_watch: asyncio.Future | None = None

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:  # type: ignore[override]
        """Serve LSP on stdio until `exit` or end of input, then end the process with the exit code
        the specification asks for (0 after shutdown then exit, 1 otherwise)."""
        assert isinstance(self.protocol, GemmaProtocol)
        return_freed_memory_to_os()  # a server that runs all day must not keep every peak (memory.py)
        code = serve_stdio(self.protocol, stdin or sys.stdin.buffer, stdout or sys.stdout.buffer,
                           self.shutdown_engine)
        exit_process(code)

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one LSP client on a TCP address as start_io serves stdio: the same lifecycle, exit
        codes, stop signals and cleanup (pygls' TCP loop would give none of them)."""
        assert isinstance(self.protocol, GemmaProtocol)
        return_freed_memory_to_os()
        exit_process(serve_tcp(self.protocol, host, port, self.shutdown_engine))

    # ----- documents ------------------------------------------------------------------------
    def open_document(self, uri: str) -> Document:
        """The open document's snapshot (.text, .version, .lines, .tree). Raises DocumentNotOpen."""
        doc = self.documents.get(uri)
        if doc is None:
            raise DocumentNotOpen(uri)
        return doc

    # ----- status -----------------------------------------------------------------------------
    def set_status(self, state: str, message: str = "") -> None:
        """Tell the editor (gemma/status) what the server is doing: loading, ready, generating, error."""
        self.state, self.state_message = state, message
        engine = self._engine
        payload = {
            "state": state,
            "message": message,
            "model": self.settings.model if self.settings.engine == "local" else self.settings.remote.url,
            "placeholder": bool(engine and engine.info.placeholder),
        }
        try:
            self.protocol.notify("gemma/status", payload)
        except Exception:  # no client attached (CLI use) or the transport is gone
            log.debug("could not send gemma/status", exc_info=True)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Mark a generation in progress: the status is `generating` while any runs."""
        self._busy += 1
        if self._busy == 1:
            self.set_status("generating", self._ready_message)
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0 and self.state == "generating":
                self.set_status("ready", self._ready_message)

    def status(self) -> dict[str, Any]:
        engine = self._engine
        info = engine.info if engine else None
        return {
            "state": self.state,
            "message": self.state_message,
            "model": info.model if info else self.settings.model,
            "engine": info.name if info else self.settings.engine,
            "device": info.device if info else None,
            "dtype": info.dtype if info else None,
            "drafter": info.drafter if info else None,
            "placeholder": bool(info and info.placeholder),
            "sandbox": {"available": self.sandbox.available, "reason": self.sandbox.reason}
            if self.sandbox is not None else None,
            "version": __version__,
        }

    def show_error(self, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(types.MessageType.Error, message))

    # ----- the engine -------------------------------------------------------------------------
    def start_loading(self) -> asyncio.Task:
        """Load the engine for the current settings in the background (once per model setting)."""
        key = self.settings.model_key()
        if self._load_task is not None and key == self._engine_key:
            return self._load_task
        previous, old_engine = self._load_task, self._engine
        self._generation += 1
        self._engine_key, self._engine, self.model_error = key, None, None
        self._load_task = asyncio.ensure_future(self._load(self._generation, previous, old_engine))
        return self._load_task

    async def get_engine(self) -> Engine:
        """The loaded engine; waits for loading (across a reload the settings asked for meanwhile).
        Raises ModelUnavailable (already shown to the user)."""
        while True:
            task = self.start_loading()
            await asyncio.shield(task)
            if task is self._load_task:
                break
        if self._engine is None:
            raise self.model_error or ModelUnavailable("the model is not loaded")
        return self._engine

    async def _load(self, generation: int, previous: asyncio.Task | None, old_engine: Engine | None) -> None:
        # A load runs in a thread and cannot be interrupted: wait for the previous one, so two models
        # are never loading (or held) at once; it sees it is outdated and closes what it made.
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        if old_engine is not None:
            gc.unfreeze()
            await old_engine.close()
        if generation != self._generation:
            return  # a newer settings change superseded this load before it began
        settings = self.settings
        self.set_status("loading", f"loading {settings.model}")
        # The title keeps naming the model: clients' status bars tell loading from other progress by it.
        progress = await Progress.begin(self, None, title=f"Gemma: loading {settings.model}", percentage=0)
        outcome = "failed"
        try:
            # Creating an engine imports torch and may probe CUDA: keep it off the event loop.
            engine = await asyncio.to_thread(create_engine, settings, self.allow_download)
            await engine.start(progress.report)
            outcome = "ready"
        except ModelUnavailable as error:
            outcome = "model unavailable"
            if generation == self._generation:
                self.model_error = error
                text = f"gemma-lsp: {error}" + (f" Fix: {error.fix}" if error.fix else "")
                log.error(text)
                self.show_error(text)
                self.set_status("error", str(error))
            return
        except Exception as error:
            log.exception("loading the model failed")
            if generation == self._generation:
                self.model_error = ModelUnavailable(f"loading the model failed: {type(error).__name__}: {error}")
                self.show_error(f"gemma-lsp: {self.model_error}")
                self.set_status("error", str(self.model_error))
            return
        finally:
            progress.end(outcome if generation == self._generation else "superseded by a settings change")
        if generation != self._generation:
            await engine.close()  # the settings changed while it loaded: the next load takes over
            return
        self._engine = engine
        # Settings that need no reload may have changed while loading.
        if hasattr(engine, "reconfigure"):
            engine.reconfigure(self.settings.draft_tokens, self.settings.adaptive_draft,
                               self.settings.kv_cache_budget_mb)
        # Count tokens with this model's tokenizer from now on (the builder keeps its recent places).
        self.context_builder.set_token_counter(engine.count_tokens)
        # The model's Python objects live as long as the server: keep them out of the garbage
        # collector's full passes, which otherwise stall a request by tens of milliseconds.
        gc.collect()
        gc.freeze()
        if engine.info.placeholder:
            log.warning("Using the tiny random Gemma 4 model: its output is gibberish. It is for tests and "
                        "smoke runs; set %s to a real preset (e2b, e4b, 26b, 31b) for real use.",
                        setting_name("model"))
        log.info("engine ready: %s %s on %s %s", engine.info.name, engine.info.model, engine.info.device,
                 engine.info.dtype)
        self._ready_message = f"{engine.info.model} on {engine.info.device}"
        self.set_status("ready", self._ready_message)

    def start_index(self) -> None:
        """Index the workspace's definitions in the background (never blocks a request)."""
        if self.workspace_root is None or not self.workspace_root.is_dir() or self.index is not None:
            return
        self.index = WorkspaceIndex()
        try:
            self.index.start(self.workspace_root)
        except Exception:
            log.exception("could not start the workspace index")
            self.index = None
            return
        self.context_builder.index = self.index

    def watch_client_process(self, pid: int) -> None:
        """End the server when the editor's process `pid` is gone (LSP: initialize's processId), as
        `exit` without `shutdown` would (code 1): an editor that crashed never sends either."""
        process = find_process(pid)
        if process is None:
            # Not visible here: an editor outside a container passing its own pid, or already gone
            # (then stdin closes too). Watching it would stop a healthy server.
            log.warning("the client's process %s cannot be seen from here; not watching it", pid)
            return
        self._client_watch = asyncio.ensure_future(self._watch_client(process))

    async def _watch_client(self, process: Any) -> None:
        while True:
            await asyncio.sleep(CLIENT_POLL_SECONDS)
            if process_gone(process):  # reads /proc: quick enough for the event loop
                break
        log.warning("the client's process %s is gone: exiting", process.pid)
        assert isinstance(self.protocol, GemmaProtocol)
        if not self.protocol.stop(1, f"client process {process.pid} gone"):
            await self.shutdown_engine()  # not served by serve_stdio/serve_tcp: pygls' loop
            self.shutdown()

    async def shutdown_engine(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = None
        self._generation += 1  # a load still running discards its engine when it finishes
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
        if self._engine is not None:
            await self._engine.close()
            self._engine = None


class _LspLogHandler(logging.Handler):
    """Sends log records to the editor as window/logMessage (from any thread)."""

    LEVELS = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning,
              logging.INFO: types.MessageType.Info}

    def __init__(self, server: GemmaServer, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.INFO)
        self.server, self.loop = server, loop

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = self.LEVELS.get(record.levelno, types.MessageType.Log)
            params = types.LogMessageParams(kind, self.format(record))
            self.loop.call_soon_threadsafe(self.server.window_log_message, params)
        except Exception:
            pass


def build_server(settings: Settings | None = None, allow_download: bool = True) -> GemmaServer:
    server = GemmaServer(settings, allow_download)

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: GemmaServer, params: types.InitializeParams) -> None:
        # Who the client is, first: messages (settings problems too) name settings in its terms.
        set_client(identify(params.initialization_options, params.client_info.name if params.client_info else None))
        settings, problems = Settings.from_lsp(params.initialization_options, ls.settings)
        ls.settings = settings
        ls._init_problems = problems  # shown once the client is initialized
        # pygls chose the encoding: the client's first choice that we support, else UTF-16 (LSP's
        # default); from here on the document store holds it and every position is mapped with it.
        encoding = str(getattr(ls.workspace.position_encoding, "value", ls.workspace.position_encoding) or "utf-16")
        ls.documents = DocumentStore(encoding)
        ls.context_builder = ContextBuilder(ls.documents, estimate_tokens)
        root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
        if root:
            path = to_fs_path(root)
            ls.workspace_root = Path(path) if path else None
        if params.process_id is not None:
            ls.watch_client_process(params.process_id)
        for feature in FEATURES:  # before pygls computes the capabilities from the features
            hook = getattr(feature, "on_initialize", None)
            if hook is not None:
                hook(ls, params)

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: GemmaServer, params: types.InitializedParams) -> None:
        attach_logging(ls)
        apply_log_file(ls.settings.log_file)
        for problem in ls._init_problems:
            ls.show_error(f"gemma-lsp settings: {problem}")
        ls.start_loading()
        ls.start_index()
        asyncio.ensure_future(probe_sandbox(ls))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def on_configuration(ls: GemmaServer, params: types.DidChangeConfigurationParams) -> None:
        settings, problems = Settings.from_lsp(params.settings, ls.settings)
        for problem in problems:
            ls.show_error(f"gemma-lsp settings: {problem}")
        reload = settings.model_key() != ls.settings.model_key()
        if settings.log_file != ls.settings.log_file:
            apply_log_file(settings.log_file)
        ls.settings = settings
        if reload:
            log.info("model settings changed: reloading")
            ls.start_loading()
        elif ls._engine is not None and hasattr(ls._engine, "reconfigure"):
            ls._engine.reconfigure(settings.draft_tokens, settings.adaptive_draft, settings.kv_cache_budget_mb)

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: GemmaServer, params: Any) -> None:
        await ls.shutdown_engine()

    @server.command("gemma.status")
    def status_command(ls: GemmaServer, *args: Any) -> dict[str, Any]:
        return ls.status()

    for feature in FEATURES:
        feature.register(server)
    return server


async def probe_sandbox(server: GemmaServer) -> None:
    """Find out once whether tool commands can run sandboxed; if not, tell the user why."""
    from gemma_lsp.sandbox import sandbox_status

    server.sandbox = await asyncio.to_thread(sandbox_status)
    if server.sandbox.available:
        log.info("sandbox: %s", server.sandbox.reason or "bubblewrap available")
        return
    if server.settings.sandbox.allow_unsandboxed:
        text = (f"gemma-lsp: the sandbox cannot run ({server.sandbox.reason}); tool commands will run "
                "UNSANDBOXED because --allow-unsandboxed was given.")
    else:
        text = (f"gemma-lsp: the sandbox cannot run ({server.sandbox.reason}), so tools that run commands "
                "(run_tests) are disabled; reading and searching files still works.")
    log.warning(text)
    server.window_show_message(types.ShowMessageParams(types.MessageType.Warning, text))


def attach_logging(server: GemmaServer) -> None:
    root = logging.getLogger("gemma_lsp")
    if any(isinstance(h, _LspLogHandler) for h in root.handlers):
        return
    handler = _LspLogHandler(server, asyncio.get_running_loop())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
