"""Command line: `gemma-lsp` (the language server) and its helper subcommands.

    gemma-lsp [options]                          serve LSP on stdio (default) or --tcp HOST:PORT
    gemma-lsp complete FILE:LINE:COL [options]   print the completion an editor would show there
    gemma-lsp context FILE:LINE:COL [--workspace DIR]   print what the model would see (JSON)
    gemma-lsp next-edit FILE:LINE:COL --edits DIFF_FILE  print a next-edit prompt and prediction (JSON)
    gemma-lsp tool NAME --workspace DIR --args JSON     run one tool as a model call would

Nothing but LSP traffic is ever written to stdout in server mode; logs go to stderr, the editor
(window/logMessage) and optionally --log-file.

SIGTERM and SIGINT end the server with code 0 and no traceback (docs/protocol.md, Lifetime), also
while it is still starting (importing takes a second or two): until the serve loop takes the signals
over (lsp/protocol.py), they interrupt the start-up and main() returns 0. This module imports little
at the top (asyncio only where used), so the time before main() runs, when Python's own SIGINT
handling would still print a KeyboardInterrupt traceback, stays a few milliseconds.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from gemma_lsp import __version__
from gemma_lsp.config import DTYPES, Settings, check, setting
from gemma_lsp.logs import setup_logging


def _setting_type(key: str, convert=str):
    """An argparse type for a flag that sets the editor setting `key`: the schema's checks and messages."""
    spec = setting(key)

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        error = check(spec, value)
        if error:
            raise argparse.ArgumentTypeError(error)
        return value

    return parse


def _range(key: str) -> str:
    spec = setting(key)
    return f"{spec.minimum}-{spec.maximum}, default {spec.default}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gemma-lsp",
        description="A language server that runs Gemma 4 (with its multi-token-prediction drafter) for "
        "inline completions, explanations and fixes of diagnostics, and ask-to-debug sessions.",
        epilog="Subcommands: `complete FILE:LINE:COL` prints the completion an editor would show at a "
        "1-based position; `context FILE:LINE:COL [--workspace DIR]` prints the prompt context as JSON; "
        "`next-edit FILE:LINE:COL --edits DIFF_FILE` prints a next-edit prompt and prediction as JSON; "
        "`tool NAME --workspace DIR --args JSON` runs one tool in the sandbox. Settings given here are the "
        "starting values; an editor's initializationOptions and didChangeConfiguration override them.",
    )
    parser.add_argument("--version", action="version", version=f"gemma-lsp {__version__}")
    parser.add_argument("--stdio", action="store_true", help="speak LSP over stdin/stdout (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen for one LSP client on a TCP address instead")
    parser.add_argument("--model", metavar="PRESET_OR_PATH", default=None,
                        help="auto (choose by hardware, the default), 31b, 26b, e4b, e2b, tiny (a random model "
                        "for tests: gibberish output), or a local checkpoint folder")
    parser.add_argument("--drafter-model", metavar="PATH", default=None,
                        help="the drafter's folder when --model is a folder (the -assistant checkpoint)")
    parser.add_argument("--no-drafter", action="store_true",
                        help="decode without the drafter (same output, usually slower)")
    parser.add_argument("--draft-tokens", type=_setting_type("draftTokens", int), default=None, metavar="N",
                        help=f"tokens the drafter proposes per step ({_range('draftTokens')})")
    parser.add_argument("--device", type=_setting_type("device"), default=None,
                        help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--dtype", default=None, choices=DTYPES, help="weights' dtype (auto: bf16 on GPU, fp32 on CPU)")
    parser.add_argument("--max-new-tokens", type=_setting_type("maxNewTokens", int), default=None, metavar="N",
                        help=f"tokens per inline completion ({_range('maxNewTokens')})")
    parser.add_argument("--engine", choices=("local", "remote"), default=None,
                        help="run the model here (local, default) or use an OpenAI-compatible server (remote)")
    parser.add_argument("--remote-url", default=None, metavar="URL",
                        help="the remote server's base URL, e.g. http://gpu-box:8000/v1")
    parser.add_argument("--script", metavar="FILE", default=None,
                        help="answer every model call from a JSON file of canned Gemma 4 outputs (tests, demos)")
    parser.add_argument("--offline", action="store_true",
                        help="never download weights (also when HF_HUB_OFFLINE=1)")
    parser.add_argument("--allow-unsandboxed", action="store_true",
                        help="run tool commands without the sandbox when bubblewrap cannot run (logged on every run)")
    parser.add_argument("--log-file", metavar="PATH", default=None, help="also write the log to this file")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default INFO)")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = Settings()
    for name in ("model", "drafter_model", "device", "dtype", "draft_tokens", "max_new_tokens", "engine",
                 "script", "log_file"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, value)
    if args.remote_url:
        settings.remote.url = args.remote_url
    if args.no_drafter:
        settings.drafter = False
    if args.allow_unsandboxed:
        settings.sandbox.allow_unsandboxed = True
    return settings


def parse_location(location: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL (1-based, as compilers print them) -> (path, line, column); raises ValueError
    with a clear message."""
    path, _, rest = location.rpartition(":")
    path, _, line = path.rpartition(":")
    if not path or not line.isdigit() or not rest.isdigit() or int(line) < 1 or int(rest) < 1:
        raise ValueError(f"expected FILE:LINE:COL with 1-based LINE and COL, got {location!r}")
    return Path(path), int(line), int(rest)


def context_main(argv: list[str]) -> int:
    """`gemma-lsp context FILE:LINE:COL [--workspace DIR]`: print, as JSON, exactly what a completion at
    that place would send to the model (features/context_report.py). LINE and COL are 1-based; COL
    counts characters."""
    parser = argparse.ArgumentParser(prog="gemma-lsp context", description=(
        "`gemma-lsp context FILE:LINE:COL [--workspace DIR]`: print, as JSON, exactly what a completion at "
        "that place would send to the model (each context part with its source, origin and token count, the "
        "chat messages, the pre-fill and the rendered prompt) and the completion mode. LINE and COL are "
        "1-based; COL counts characters. The editor command `gemma.context` returns the same object."))
    parser.add_argument("location", help="FILE:LINE:COL, 1-based; COL counts characters")
    parser.add_argument("--workspace", type=Path, help="index this folder for definitions")
    budget = Settings().prompt_budget_tokens  # the editors' default (gemma.maxContextTokens)
    parser.add_argument("--budget", type=int, default=budget, help=f"prompt token budget (default {budget})")
    parser.add_argument("--open", type=Path, action="append", default=[],
                        help="also treat this file as open in the editor (repeatable)")
    parser.add_argument("--tokenizer", type=Path,
                        help="count tokens with the tokenizer in this model folder (default: the tiny fixture one)")
    args = parser.parse_args(argv)
    try:
        path, line, column = parse_location(args.location)
        if args.budget < 1:
            raise ValueError(f"--budget must be positive, got {args.budget}")
        if args.workspace is not None and not args.workspace.is_dir():
            raise ValueError(f"--workspace is not a folder: {args.workspace}")
        if args.tokenizer is not None and not args.tokenizer.is_dir():
            raise ValueError(f"--tokenizer is not a folder: {args.tokenizer}")
        from gemma_lsp.features.context_report import report_for_file

        result = report_for_file(path, line, column, args.budget, workspace=args.workspace,
                                 open_files=tuple(args.open), tokenizer=args.tokenizer)
    except (OSError, ValueError) as error:
        print(f"gemma-lsp context: {error}", file=sys.stderr)
        return 2
    import json

    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "context":
        return context_main(argv[1:])
    if argv and argv[0] == "tool":
        from gemma_lsp.toolbox.cli import main as tool_main

        return tool_main(argv[1:])
    if argv and argv[0] == "next-edit":
        parser = _parser()
        parser.prog = "gemma-lsp next-edit"
        parser.add_argument("location", metavar="FILE:LINE:COL")
        parser.add_argument("--edits", type=Path, required=True, metavar="DIFF_FILE",
                            help="the recent edits as unified diffs, oldest first (each hunk is one edit)")
        args = parser.parse_args(argv[1:])
        setup_logging("WARNING" if args.log_level == "INFO" else args.log_level, args.log_file)
        from gemma_lsp.features.next_edit_cli import run as next_edit_run

        return next_edit_run(parse_location(args.location), args.edits, settings_from_args(args),
                             allow_download=not args.offline)
    if argv and argv[0] == "complete":
        parser = _parser()
        parser.prog = "gemma-lsp complete"
        parser.add_argument("location", metavar="FILE:LINE:COL")
        args = parser.parse_args(argv[1:])
        setup_logging("WARNING" if args.log_level == "INFO" else args.log_level, args.log_file)
        import asyncio

        return asyncio.run(_complete(args))
    previous = {number: signal.signal(number, _interrupt_start_up) for number in _STOP_SIGNALS}
    try:
        server, args = _start_up(argv)
        # The serve loop takes both signals over as soon as it runs (lsp/protocol.py); until then,
        # the handler above still ends the start-up.
        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            server.start_tcp(host, int(port))
        else:
            server.start_io()
    except _StartUpInterrupted as stop:
        logging.getLogger(__name__).info("%s received while starting: exiting", stop.args[0])
        return 0
    finally:
        for number, handler in previous.items():
            if signal.getsignal(number) is _interrupt_start_up:  # not what the serve loop left
                signal.signal(number, handler)
    return 0


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _StartUpInterrupted(BaseException):
    """A stop signal while the server starts: not an error, so no traceback (BaseException, so that no
    `except Exception` in an import on the way swallows it)."""


def _interrupt_start_up(number: int, frame: object) -> None:
    raise _StartUpInterrupted(signal.Signals(number).name)


def _start_up(argv: list[str]) -> tuple[Any, argparse.Namespace]:
    """Parse the options and build the server (the slow imports): everything before serving."""
    args = _parser().parse_args(argv)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit("gemma-lsp: --tcp expects HOST:PORT")
    settings = settings_from_args(args)
    setup_logging(args.log_level, settings.log_file)
    from gemma_lsp.lsp.server import build_server

    allow_download = not (args.offline or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"))
    return build_server(settings, allow_download=allow_download), args


async def _complete(args: argparse.Namespace) -> int:
    from pygls.uris import from_fs_path

    from gemma_lsp.context.builder import ContextBuilder
    from gemma_lsp.context.documents import DocumentStore
    from gemma_lsp.context.languages import language_for
    from gemma_lsp.context.positions import Position, line_starts
    from gemma_lsp.engine.base import ModelUnavailable
    from gemma_lsp.engine.factory import create_engine
    from gemma_lsp.features.completion import complete

    try:
        path, line, col = parse_location(args.location)
    except ValueError as error:
        print(f"gemma-lsp: {error}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"gemma-lsp: no such file: {path}", file=sys.stderr)
        return 2
    text = path.read_text(encoding="utf-8", errors="replace")
    uri = from_fs_path(str(path.resolve())) or ""
    # Columns as compilers print them count characters: UTF-32 positions (clamped to the line).
    store = DocumentStore(encoding="utf-32")
    store.open(uri, language_for(None, str(path)) or "plaintext", 1, text)
    count = len(line_starts(text))
    if line > count:
        print(f"gemma-lsp: {path} has only {count} lines", file=sys.stderr)
        return 2
    settings = settings_from_args(args)
    engine = create_engine(settings, allow_download=not args.offline)
    try:
        await engine.start()
    except ModelUnavailable as error:
        print(f"gemma-lsp: {error}" + (f"\nFix: {error.fix}" if error.fix else ""), file=sys.stderr)
        return 3
    if engine.info.placeholder:
        print("gemma-lsp: using the tiny random model: the output is gibberish (often empty)", file=sys.stderr)
    builder = ContextBuilder(store, engine.count_tokens)
    try:
        completion, _ = await complete(engine, builder, uri, Position(line=line - 1, character=col - 1), settings)
    finally:
        await engine.close()
    sys.stdout.write(completion + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
