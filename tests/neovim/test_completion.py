"""Inline completion in a real headless Neovim against the real server (scripted engine).

Fixture: `editor` — an embedded Neovim with the plugin set up, editing example.py in a temporary
workspace, attached to gemma-lsp (`--model tiny --script`). The model always replies "a + b" and a
second line; the server keeps one line at the end of `return ` and both on a blank body line.
"""

from __future__ import annotations

from collections.abc import Iterator

import pynvim
import pytest

from tests.neovim.nvim_support import (
    attached_editor,
    ghost_marks,
    lua,
    requires_nvim,
    wait_for,
    write_script,
)

pytestmark = requires_nvim

SOURCE = "def add(a, b):\n    return \n"
BLANK_BODY = "def add(a, b):\n    \n"


@pytest.fixture(scope="module")
def editor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pynvim.Nvim]:
    tmp = tmp_path_factory.mktemp("nvim-completion")
    (tmp / ".git").mkdir()
    # Ends the turn without a closing fence: a fence split across the scripted engine's chunks leaves
    # a stray "`" in block completions (reported to the server's owners).
    script = write_script(tmp / "script.json", {"completion": ["a + b\n    return a - b\n<turn|>"]})
    (tmp / "example.py").write_text(SOURCE)
    # Offer only UTF-16 (LSP's default) so positions after non-ASCII text need converting.
    utf16_only = "vim.lsp.config('gemma', { capabilities = { general = { positionEncodings = { 'utf-16' } } } })"
    with attached_editor(tmp, script, "example.py", before_attach=utf16_only) as nvim:
        yield nvim


def _insert_at_end_of_line_2(editor: pynvim.Nvim, source: str) -> pynvim.Nvim:
    editor.input("<Esc>")
    lua(editor, "vim.api.nvim_buf_set_lines(0, 0, -1, false, vim.split(..., '\\n'))", source.rstrip("\n"))
    lua(editor, "require('gemma.completion').toggle(true)")
    editor.command("call cursor(2, 1)")
    editor.input("A")
    wait_for(editor, "vim.api.nvim_get_mode().mode == 'i'", 15, "insert mode")
    return editor


@pytest.fixture
def at_return(editor: pynvim.Nvim) -> pynvim.Nvim:
    """Insert mode at the end of `    return ` (the server completes one line there), no suggestion."""
    return _insert_at_end_of_line_2(editor, SOURCE)


@pytest.fixture
def at_blank(editor: pynvim.Nvim) -> pynvim.Nvim:
    """Insert mode on the blank, indented body line (the server completes a block there)."""
    return _insert_at_end_of_line_2(editor, BLANK_BODY)


def wait_ghost(nvim: pynvim.Nvim, col: int) -> dict:
    wait_for(
        nvim,
        f"#vim.api.nvim_buf_get_extmarks(0, require('gemma.ghost_text').ns, {{1, {col}}}, {{1, {col}}}, {{}}) > 0",
        30,
        f"ghost text at column {col}",
    )
    marks = ghost_marks(nvim)
    assert len(marks) == 1, marks
    return marks[0]


def test_ghost_text_appears_as_an_extmark_after_typing_stops(at_return: pynvim.Nvim):
    mark = wait_ghost(at_return, 11)
    assert mark == {"row": 1, "col": 11, "text": "a + b", "lines": []}
    # Ghost text is virtual: the buffer itself is unchanged.
    assert at_return.current.buffer[1] == "    return "


def test_multiline_suggestion_draws_the_rest_as_virtual_lines(at_blank: pynvim.Nvim):
    mark = wait_ghost(at_blank, 4)
    assert mark == {"row": 1, "col": 4, "text": "a + b", "lines": ["    return a - b"]}


def test_typing_something_else_clears_the_suggestion_and_asks_again(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    at_return.input("x")
    wait_for(at_return, "vim.api.nvim_get_current_line() == '    return x'", 15, "the typed x")
    # The suggestion for `return ` is gone at once; a new one may already stand after the x.
    assert all(m["col"] != 11 for m in ghost_marks(at_return)), ghost_marks(at_return)
    wait_ghost(at_return, 12)


def test_typing_the_suggestions_next_characters_keeps_the_rest(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    at_return.input("a")
    wait_for(at_return, "require('gemma.completion').visible_text() == ' + b'", 15, "the suggestion minus the typed a")
    assert ghost_marks(at_return) == [{"row": 1, "col": 12, "text": " + b", "lines": []}]


def test_accept_inserts_the_whole_suggestion(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    at_return.input("<M-l>")
    wait_for(at_return, "vim.api.nvim_get_current_line() == '    return a + b'", 15, "the insert")
    assert at_return.current.buffer[:] == ["def add(a, b):", "    return a + b"]
    assert tuple(at_return.current.window.cursor) == (2, 16)


def test_accept_inserts_every_line_of_a_block(at_blank: pynvim.Nvim):
    wait_ghost(at_blank, 4)
    at_blank.input("<M-l>")
    wait_for(at_blank, "vim.api.nvim_get_current_line() == '    return a - b'", 15, "the insert")
    assert at_blank.current.buffer[:] == ["def add(a, b):", "    a + b", "    return a - b"]
    assert tuple(at_blank.current.window.cursor) == (3, 16)


def test_accept_word_and_line_insert_parts_and_keep_the_rest_shown(at_blank: pynvim.Nvim):
    wait_ghost(at_blank, 4)
    at_blank.input("<M-Right>")
    wait_for(at_blank, "vim.api.nvim_get_current_line() == '    a'", 15, "the first word")
    assert ghost_marks(at_blank) == [{"row": 1, "col": 5, "text": " + b", "lines": ["    return a - b"]}]
    at_blank.input("<M-Down>")
    wait_for(at_blank, "vim.api.nvim_get_current_line() == '    a + b'", 15, "the rest of the line")
    assert lua(at_blank, "return require('gemma.completion').visible_text()") == "\n    return a - b"
    at_blank.input("<M-Down>")
    wait_for(at_blank, "vim.api.nvim_buf_line_count(0) == 3", 15, "the next line")
    assert at_blank.current.buffer[2] == "    return a - b"


def test_dismiss_and_leaving_insert_mode_clear_the_suggestion(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    at_return.input("<C-]>")
    wait_for(at_return, "require('gemma.completion').visible_text() == nil", 15, "dismiss")
    assert ghost_marks(at_return) == []
    lua(at_return, "require('gemma.completion').cycle(1)")  # asks again explicitly
    wait_ghost(at_return, 11)
    at_return.input("<Esc>")
    wait_for(at_return, "vim.api.nvim_get_mode().mode == 'n'", 15, "normal mode")
    assert ghost_marks(at_return) == []
    assert at_return.current.buffer[1] == "    return "


def test_typing_cancels_the_request_in_flight_and_its_answer_never_shows(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    lua(at_return, "require('gemma.completion').dismiss()")
    # In one Lua chunk (the event loop cannot deliver the answer in between): ask, then type.
    request_id, state = lua(at_return, """
        local c = require('gemma.completion')
        c.request(1)
        local id = assert(c.pending_request())
        vim.api.nvim_buf_set_text(0, 1, 11, 1, 11, { 'z' })
        vim.api.nvim_win_set_cursor(0, { 2, 12 })
        c.on_change(vim.api.nvim_get_current_buf())
        local client = require('gemma.client').get()
        return { id, client.requests[id] and client.requests[id].type }
    """)
    assert state == "cancel"
    wait_for(at_return, f"require('gemma.client').get().requests[{request_id}] == nil", 30,
             "the server to acknowledge the cancel")
    assert all(m["col"] != 11 for m in ghost_marks(at_return))


def test_gemma_toggle_turns_completion_off_and_clears_the_suggestion(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    at_return.command("GemmaToggle")
    assert lua(at_return, "return require('gemma.completion').enabled") is False
    assert ghost_marks(at_return) == []
    at_return.command("GemmaToggle")
    assert lua(at_return, "return require('gemma.completion').enabled") is True


def test_setup_again_remaps_keys_and_tab_falls_through_when_nothing_is_shown(editor: pynvim.Nvim, at_return):
    lua(editor, "local c = require('gemma.config').current; c.completion.keymaps.accept = '<Tab>';"
                "require('gemma').setup(c)")
    try:
        assert lua(editor, "return #vim.api.nvim_get_autocmds({ group = 'gemma' })") > 0
        groups = lua(editor, "return vim.tbl_count(vim.tbl_filter(function(a) return a.event == 'InsertLeave' end,"
                             " vim.api.nvim_get_autocmds({ group = 'gemma' })))")
        assert groups == 1  # the second setup replaced the autocmds instead of adding to them
        wait_ghost(editor, 11)
        editor.input("<Tab>")
        wait_for(editor, "vim.api.nvim_get_current_line() == '    return a + b'", 15, "Tab to accept")
        # The old accept key is gone: the second setup replaced the keymaps.
        assert lua(editor, "return vim.fn.maparg('<M-l>', 'i')") == ""
        lua(editor, "require('gemma.completion').toggle(false)")
        editor.input("<Tab>")
        # (the python ftplugin's expandtab makes the Tab spaces)
        wait_for(editor, "vim.api.nvim_get_current_line():match('^    return a %+ b%s+$')", 15, "a plain Tab")
    finally:
        lua(editor, "local c = require('gemma.config').current; c.completion.keymaps.accept = '<M-l>';"
                    "require('gemma').setup(c)")


def test_suggestion_after_non_ascii_text_lands_at_the_cursor(at_return: pynvim.Nvim):
    # The server speaks UTF-16 positions; the emoji is 4 bytes but 2 UTF-16 units.
    assert lua(at_return, "return require('gemma.client').get().offset_encoding") == "utf-16"
    at_return.input("<Esc>")
    lua(at_return, "vim.api.nvim_buf_set_lines(0, 1, 2, false, { '    s = \"👋\" + ' })")
    at_return.command("call cursor(2, 1)")
    at_return.input("A")
    col = len('    s = "👋" + '.encode())
    mark = wait_ghost(at_return, col)
    assert mark["text"] == "a + b"
    at_return.input("<M-l>")
    wait_for(at_return, "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    s = \"👋\" + a + b'", 15, "the insert")


def test_cycling_asks_the_server_again_as_invoked_and_shows_i_of_n(at_return: pynvim.Nvim):
    wait_ghost(at_return, 11)
    lua(at_return, """
        _G.kinds = {}
        local client = require('gemma.client').get()
        local request = client.request
        _G.original_request = request
        client.request = function(self, method, params, ...)
          if method == 'textDocument/inlineCompletion' then
            table.insert(_G.kinds, { params.context.triggerKind, params.position })
          end
          return request(self, method, params, ...)
        end
    """)
    try:
        at_return.input("<M-]>")
        counter = wait_for(at_return, "require('gemma.ghost_text').count_text(0)", 30, "the i/N counter")
        # One Invoked request for the same spot; whatever it brings, the counter says where we are.
        assert lua(at_return, "return _G.kinds") == [[1, {"line": 1, "character": 11}]]
        index, n = (int(x) for x in counter.split("/"))
        assert 1 <= index <= n
        assert ghost_marks(at_return)[0]["text"] == lua(at_return, "return require('gemma.completion').visible_text()")
        if n == 1:  # the scripted model has one answer: "1/1", not silence
            assert counter == "1/1"
        at_return.input("<M-]>")
        wait_for(at_return, f"require('gemma.ghost_text').count_text(0) == '{index % n + 1}/{n}'", 15, "the next")
        assert len(lua(at_return, "return _G.kinds")) == 1  # all alternatives known: no new request
    finally:
        lua(at_return, "require('gemma.client').get().request = _G.original_request")
