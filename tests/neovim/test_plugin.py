"""The plugin without a running server: help, configuration errors, health, commands' messages.

Fixture: `nvim` — an embedded Neovim with the plugin on 'runtimepath' and no server started.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pynvim
import pytest

from tests.conftest import SERVER_SRC
from tests.neovim.nvim_support import PLUGIN, lua, nvim_session, open_and_attach, requires_nvim

pytestmark = requires_nvim

DOC = PLUGIN / "doc" / "gemma.txt"


@pytest.fixture
def nvim(tmp_path: Path) -> Iterator[pynvim.Nvim]:
    with nvim_session(tmp_path) as nvim:
        lua(nvim, "_G.notes = {}; vim.notify = function(m, l) table.insert(_G.notes, { m, l or 2 }) end")
        yield nvim


def test_help_gemma_opens_the_doc_and_every_gemma_link_resolves(nvim: pynvim.Nvim, tmp_path: Path):
    # helptags writes a tags file next to the doc: build it in a copy, not in the checkout.
    docs = tmp_path / "rtp" / "doc"
    docs.mkdir(parents=True)
    shutil.copy(DOC, docs / "gemma.txt")
    nvim.command(f"set runtimepath^={docs.parent}")
    nvim.command(f"helptags {docs}")
    nvim.command("help gemma")
    assert nvim.current.buffer.name.endswith("gemma.txt")
    assert nvim.current.buffer.options["filetype"] == "help"
    text = DOC.read_text()
    links = set(re.findall(r"\|((?:gemma|:Gemma|hl-Gemma|GemmaStatus)[^|\s]*)\|", text))
    assert len(links) > 10
    for tag in sorted(links):
        nvim.command(f"help {tag}")  # raises E149 for a tag that does not exist
    nvim.command("help gemma-config")
    assert "CONFIGURATION" in nvim.current.line or "gemma-config" in nvim.current.line


def test_doc_covers_every_command_and_option(nvim: pynvim.Nvim):
    text = DOC.read_text()
    commands = lua(nvim, "return vim.tbl_keys(vim.api.nvim_get_commands({}))")
    gemma_commands = [c for c in commands if c.startswith("Gemma")]
    assert len(gemma_commands) >= 8, gemma_commands
    for command in gemma_commands:
        assert f"*:{command}*" in text, f":{command} has no help tag"
    options = lua(nvim, """
        local out = {}
        local function walk(t, prefix)
          for k, v in pairs(t) do
            local path = prefix .. k
            if type(v) == 'table' and not vim.islist(v) and next(v) then walk(v, path .. '.') else out[#out + 1] = path end
          end
        end
        walk(require('gemma.config').defaults, '')
        return out
    """)
    for option in options:
        leaf = option.rsplit(".", 1)[-1]
        assert leaf in text, f"option {option} is not documented"


def test_setup_reports_invalid_options_and_keeps_the_defaults(nvim: pynvim.Nvim):
    lua(nvim, "require('gemma').setup({ completion = { debounce_ms = -5, keymaps = { accept = 3 } },"
              " colour = 'red', server = { autostart = false } })")
    message, level = lua(nvim, "return _G.notes[1]")
    assert level == 4  # ERROR
    assert "completion.debounce_ms" in message and "completion.keymaps.accept" in message
    assert "colour: unknown option" in message
    config = lua(nvim, "return require('gemma.config').current")
    assert config["completion"]["debounce_ms"] == 150
    assert config["completion"]["keymaps"]["accept"] == "<M-l>"
    assert config["server"]["autostart"] is False  # valid options are kept
    assert lua(nvim, "return vim.fn.maparg('<M-l>', 'i') ~= ''")
    assert lua(nvim, "return vim.lsp.is_enabled('gemma')") is False


def test_checkhealth_without_a_server_says_how_to_install_it(nvim: pynvim.Nvim):
    lua(nvim, "require('gemma').setup({ server = { cmd = { 'no-such-gemma-lsp' } } })")
    nvim.command("checkhealth gemma")
    report = "\n".join(nvim.current.buffer[:])
    assert "OK Neovim 0.1" in report
    assert "ERROR Server command not found: no-such-gemma-lsp" in report
    assert "pip install gemma-lsp" in report
    assert "No gemma-lsp client is running" in report


def test_commands_without_a_client_warn_instead_of_failing(nvim: pynvim.Nvim, tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello\n")
    nvim.command(f"edit {tmp_path / 'notes.txt'}")
    for command in ("GemmaExplain", "GemmaFix", "GemmaDebug why", "GemmaContext", "GemmaStatus"):
        nvim.command(command)
    notes = lua(nvim, "return _G.notes")
    assert len(notes) == 5 and all(level == 3 for _, level in notes), notes
    assert "no gemma-lsp client is attached" in notes[0][0]
    nvim.command("GemmaCancel")
    assert lua(nvim, "return _G.notes[#_G.notes][1]") == "gemma: no debug session is running"


def test_lsp_config_file_serves_users_who_only_enable_the_server(nvim: pynvim.Nvim):
    config = lua(nvim, "local c = vim.lsp.config.gemma; return { cmd = c.cmd, ft = c.filetypes,"
                       " renders = c.init_options.gemma.clientRendersExplanations }")
    assert config == {"cmd": ["gemma-lsp"], "ft": lua(nvim, "return require('gemma.config').defaults.server.filetypes"),
                      "renders": True}


STYLUA = PLUGIN / "node_modules" / "@johnnymorganz" / "stylua"


@pytest.mark.skipif(shutil.which("node") is None or not STYLUA.exists(),
                    reason="StyLua (wasm) not installed: npm ci --prefix editors/neovim")
def test_lua_is_formatted_with_stylua():
    import subprocess

    result = subprocess.run(["node", "scripts/stylua.cjs", "--check"], cwd=PLUGIN, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("text", "word", "line"), [
    ("foo(bar)", "foo", "foo(bar)"),
    ("  + b\nnext", "  +", "  + b"),
    ("(x)", "(", "(x)"),
    ("\n    return x", "\n    ", "\n    return x"),
    ("   ", "   ", "   "),
])
def test_partial_accept_splits_words_and_lines(nvim: pynvim.Nvim, text: str, word: str, line: str):
    c = "require('gemma.completion')"
    assert lua(nvim, f"return {c}.next_word(...)", text) == word
    assert lua(nvim, f"return {c}.next_line(...)", text) == line


def test_context_json_is_pretty_printed_with_sorted_keys(nvim: pynvim.Nvim):
    import json

    value = {"b": [1, 2.5, "x\n\"y\""], "a": {"nested": True, "none": None}, "empty": []}
    text = lua(nvim, "return require('gemma.json').pretty(vim.json.decode(...))", json.dumps(value))
    assert json.loads(text) == value
    assert text.index('"a"') < text.index('"b"') < text.index('"empty"')
    assert text.splitlines()[1] == '  "a": {'


def test_diagnostics_from_any_source_convert_to_lsp_with_utf16_columns(nvim: pynvim.Nvim):
    result = lua(nvim, """
        vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'x = 1', 's = "é" + c', 'y = 2' })
        local ns = vim.api.nvim_create_namespace('some-linter')
        -- byte columns: "é" is 2 bytes, so `c` starts at byte 11 but UTF-16 unit 10.
        vim.diagnostic.set(ns, 0, {
          { lnum = 1, col = 11, end_lnum = 1, end_col = 12, message = "undefined name 'c'", source = 'pyflakes',
            severity = vim.diagnostic.severity.ERROR },
          { lnum = 2, col = 0, end_lnum = 2, end_col = 1, message = 'elsewhere' },
        })
        vim.api.nvim_win_set_cursor(0, { 2, 0 })
        local d = require('gemma.diagnostics')
        local range = { start = { line = 1, character = 0 }, ['end'] = { line = 1, character = 3 } }
        return { d.in_range(0, range), d.at_cursor(0) }
    """)
    in_range, at_cursor = result
    assert len(in_range) == 1
    assert in_range[0]["range"] == {"start": {"line": 1, "character": 10}, "end": {"line": 1, "character": 11}}
    assert in_range[0]["message"] == "undefined name 'c'" and in_range[0]["severity"] == 1
    assert in_range[0]["source"] == "pyflakes"
    assert at_cursor == in_range[0]


def test_on_neovim_012_the_keys_drive_the_native_inline_completion(nvim: pynvim.Nvim):
    # Neovim 0.12's vim.lsp.inline_completion cannot run here (0.11.4): stand in for its documented
    # API (get() accepts and returns whether it did, select({count}) cycles) to check the wiring.
    calls = lua(nvim, """
        _G.native_calls = {}
        vim.lsp.inline_completion = {
          enable = function(on, filter) table.insert(_G.native_calls, { 'enable', on }) end,
          get = function() table.insert(_G.native_calls, { 'get' }); return true end,
          select = function(opts) table.insert(_G.native_calls, { 'select', opts.count }) end,
        }
        require('gemma').setup({ server = { autostart = false } })
        local events = {}
        for _, a in ipairs(vim.api.nvim_get_autocmds({ group = 'gemma' })) do events[a.event] = true end
        vim.cmd('startinsert')
        return { native = require('gemma.completion').native(), events = events }
    """)
    assert calls["native"] is True
    assert "LspAttach" in calls["events"] and "TextChangedI" not in calls["events"]  # no own ghost text
    nvim.input("<M-Right><M-l><M-]><M-[>")
    seen = lua(nvim, "vim.wait(2000, function() return #_G.native_calls >= 3 end); return _G.native_calls")
    assert seen == [["get"], ["select", 1], ["select", -1]]  # accept_word does not accept everything


def test_checkhealth_warns_that_the_tiny_model_is_a_placeholder(nvim: pynvim.Nvim, tmp_path: Path):
    import sys

    (tmp_path / ".git").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    lua(nvim, "require('gemma').setup(...)", {"server": {
        "cmd": [sys.executable, "-m", "gemma_lsp", "--model", "tiny", "--offline"],
        "cmd_env": {"PYTHONPATH": str(SERVER_SRC), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    }})
    open_and_attach(nvim, tmp_path / "a.py", timeout_s=120)
    nvim.command("checkhealth gemma")
    report = "\n".join(nvim.current.buffer[:])
    assert "OK Model tiny: ready on cpu" in report, report
    assert "WARNING The model is a placeholder (tiny random weights)" in report, report
    # No settings given: they must still go out as an object (an empty Lua table encodes as `[]`).
    notes = [m for m, _ in lua(nvim, "return _G.notes")]
    assert not any("gemma.gemma" in m for m in notes), notes


def test_an_item_whose_range_covers_typed_and_following_text_replaces_it(nvim: pynvim.Nvim):
    # LSP lets an item replace a range around the cursor: here `foo(` was typed and `bar)` follows.
    lua(nvim, "require('gemma').setup({ server = { autostart = false } })")
    nvim.current.buffer[:] = ["x = foo(bar)"]
    nvim.command("call cursor(1, 9)")  # on the `b`: Insert mode puts the cursor after `foo(`
    nvim.input("i")
    lua(nvim, "vim.wait(1000, function() return vim.api.nvim_get_mode().mode == 'i' end)")
    result = {"items": [
        {"insertText": "foo(baz)", "range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 12}}},
        {"insertText": "nope", "range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 8}}},
        {"insertText": {"kind": "snippet", "value": "qux(${1:arg})$0"}},
    ]}
    usable = lua(nvim, "return require('gemma.completion').present(0, { id = 0, offset_encoding = 'utf-16' }, ...)",
                 result)
    assert usable == 2  # "nope" disagrees with the typed `foo(` and is dropped
    assert lua(nvim, "return require('gemma.completion').visible_text()") == "baz)"
    lua(nvim, "require('gemma.completion').cycle(1)")
    assert lua(nvim, "return require('gemma.completion').visible_text()") == "qux(arg)"  # snippet as text
    lua(nvim, "require('gemma.completion').cycle(-1)")
    assert lua(nvim, "return require('gemma.completion').accept()") is True
    assert nvim.current.buffer[:] == ["x = foo(baz)"]  # `bar)` was replaced, not pushed right
    assert tuple(nvim.current.window.cursor) == (1, 12)
