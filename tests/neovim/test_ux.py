"""Issue 16's Neovim items in a real headless Neovim: progress, the debug diff review, cycling with
"i/N", the statusline, the menu sources, the placeholder notice and `initializationOptions`.

Progress, the debug diff review and cycling run against the real server (`--model tiny --script`):
its server-created progress, its `proposal` and the ```diff blocks in the debug answer, and its
Invoked alternatives (CONTRACT.md). What the real server cannot produce here runs against
tests/neovim/contract_server.py (`standin`), a stand-in that answers as docs/protocol.md says: it
records the initialize params the plugin sent, reports a sandbox that is not available whatever the
machine, and answers completions at once for the nvim-cmp and blink.cmp sources.

Fixtures: `editor` — one Neovim for the module, editing buggy.py in a workspace of its own, attached
to the real server, with vim.notify, nvim_echo, vim.ui.select and every LspProgress event (with what
the plugin showed right after it) recorded; `buggy` — that editor with buggy.py restored and a
linter's diagnostic on `c`. `standin` and `standin_buggy` — the same against the stand-in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pynvim
import pytest

from tests.neovim.nvim_support import (
    PLUGIN,
    attached_editor,
    back_to_buffer,
    ghost_marks,
    lua,
    nvim_session,
    open_and_attach,
    requires_nvim,
    set_undefined_c_diagnostic,
    wait_for,
    write_script,
)

pytestmark = requires_nvim

STANDIN = Path(__file__).with_name("contract_server.py")
BUGGY = ["def add(a, b):", "    return a + c"]
EXPLANATION = "The name `c` is **not defined**."
DEBUG_ANSWER = (
    "The **bug**: `add` returns `a + c`; only `a` and `b` exist.\n\nbuggy.py\n```python\n<<<<<<< SEARCH\n"
    "    return a + c\n=======\n    return a + b\n>>>>>>> REPLACE\n```\n<turn|>"
)
GREEDY = "return a + b"
ALTERNATIVES = ["return sum((a, b))", "return b + a"]

# What the user sees, recorded: notifications, echoes, vim.ui.select questions, and each LspProgress
# event with what the plugin showed right after handling it (this autocmd runs after the plugin's).
RECORD = """
    _G.seen = { notify = {}, echo = {}, asked = {}, progress = {} }
    _G.all_notes = {}
    vim.notify = function(msg, level)
      table.insert(_G.seen.notify, { msg, level or 2 })
      table.insert(_G.all_notes, msg)
    end
    local echo = vim.api.nvim_echo
    vim.api.nvim_echo = function(chunks, history, opts)
      local text = ''
      for _, c in ipairs(chunks) do text = text .. c[1] end
      table.insert(_G.seen.echo, text)
      return echo(chunks, history, opts)
    end
    vim.api.nvim_create_autocmd('LspProgress', { callback = function(args)
      local v = args.data.params.value
      table.insert(_G.seen.progress, {
        token = tostring(args.data.params.token), kind = v.kind, title = v.title or '', message = v.message or '',
        current = require('gemma.progress').current(true) or '', statusline = require('gemma').statusline(),
        lsp_status = vim.lsp.status(), echo = _G.seen.echo[#_G.seen.echo] or '' })
    end })
"""


def make_workspace(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    tmp = tmp_path_factory.mktemp(name)
    (tmp / ".git").mkdir()
    (tmp / "buggy.py").write_text("\n".join(BUGGY) + "\n")
    return tmp


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = make_workspace(tmp_path_factory, "nvim-ux")
    write_script(tmp / "script.json", {
        # The fix region is the enclosing function: the model rewrites all of it.
        "fix": ["```python\ndef add(a, b):\n    return a + b\n```"],
        "explain": [EXPLANATION],
        "debug": [DEBUG_ANSWER],
        "completion": [{"text": GREEDY + "\n```", "alternatives": [a + "\n```" for a in ALTERNATIVES]}],
    })
    return tmp


@pytest.fixture(scope="module")
def editor(workspace: Path) -> Iterator[pynvim.Nvim]:
    with attached_editor(workspace, workspace / "script.json", "buggy.py", before_attach=RECORD,
                         completion={"auto_trigger": False}) as nvim:
        yield nvim


def restore(nvim: pynvim.Nvim) -> None:
    """Normal mode, no floats, buggy.py's text back, the cursor on `c`, the records emptied."""
    back_to_buffer(nvim, "buggy.py")
    lua(nvim, "_G.seen.notify, _G.seen.echo, _G.seen.asked, _G.seen.progress = {}, {}, {}, {}")
    lua(nvim, "vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)", BUGGY)
    nvim.command("call cursor(2, 16)")


@pytest.fixture
def buggy(editor: pynvim.Nvim) -> pynvim.Nvim:
    restore(editor)
    set_undefined_c_diagnostic(editor)
    return editor


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pynvim.Nvim]:
    workspace = make_workspace(tmp_path_factory, "nvim-ux-standin")
    with nvim_session(workspace) as nvim:
        lua(nvim, "require('gemma').setup(...)", {
            "server": {"cmd": [sys.executable, str(STANDIN), str(workspace / "init.json")]},
            "completion": {"auto_trigger": False},
        })
        lua(nvim, RECORD)
        open_and_attach(nvim, workspace / "buggy.py")
        yield nvim


@pytest.fixture
def standin_buggy(standin: pynvim.Nvim) -> pynvim.Nvim:
    restore(standin)
    return standin


def progress_of(nvim: pynvim.Nvim, begin_message: str) -> list[dict]:
    """The recorded events of the one progress that began with `begin_message`."""
    events = lua(nvim, "return _G.seen.progress")
    tokens = [e["token"] for e in events if e["kind"] == "begin" and e["message"] == begin_message]
    assert len(tokens) == 1, events
    return [e for e in events if e["token"] == tokens[0]]


def test_the_plugin_tells_the_server_it_is_neovim(standin: pynvim.Nvim):
    init = json.loads((Path(lua(standin, "return vim.fn.getcwd()")) / "init.json").read_text())
    assert init["initializationOptions"]["gemma"]["client"] == "neovim"
    assert init["initializationOptions"]["gemma"]["clientRendersExplanations"] is True
    # Server-created progress needs this capability (CONTRACT.md): Neovim advertises it.
    assert init["workDoneProgress"] is True


def test_fix_from_code_action_shows_the_servers_progress_until_it_is_applied(buggy: pynvim.Nvim):
    lua(buggy, """
        vim.ui.select = function(items, opts, on_choice)
          for i, item in ipairs(items) do
            if vim.startswith(item.action.title, 'Fix') then return on_choice(item, i) end
          end
          on_choice(nil, nil)
        end
        vim.lsp.buf.code_action()
    """)
    # Neovim resolves the action itself; the server's progress is what the user sees meanwhile.
    wait_for(buggy, "vim.api.nvim_buf_get_lines(0, 1, 2, false)[1] == '    return a + b'", 60, "the fix")
    wait_for(buggy, "require('gemma.progress').current() == nil", 30, "the progress to end")
    begin, asking, end = progress_of(buggy, "computing the fix…")
    assert (begin["kind"], begin["title"]) == ("begin", "Gemma")
    assert (asking["kind"], asking["message"]) == ("report", "asking the model…")
    assert (end["kind"], end["message"]) == ("end", "done")
    # While it ran: the plugin's echo line and statusline (with its spinner), and vim.lsp.status().
    spinner = lua(buggy, "return require('gemma.progress').spinner_frames")
    for event in (begin, asking):
        assert event["current"] == event["message"]
        assert event["echo"] == f"gemma: {event['message']}"  # one prefix
        assert event["statusline"][0] in spinner and event["statusline"].endswith(event["echo"]), event
        assert event["message"] in event["lsp_status"], event
    assert end["echo"] == "" and end["current"] == ""  # "done" clears the line
    assert lua(buggy, "return _G.seen.echo[#_G.seen.echo]") == ""
    assert lua(buggy, "return require('gemma').statusline()").startswith("gemma: ready")
    assert not any("Gemma:" in e for e in lua(buggy, "return _G.seen.echo"))


def test_explain_progress_is_cleared_once_the_float_is_open(buggy: pynvim.Nvim):
    lua(buggy, "require('gemma.float').last = nil")
    buggy.command("GemmaExplain")
    win = wait_for(buggy, "(function() local f = require('gemma.float').last;"
                          " return f and vim.api.nvim_win_is_valid(f.winid) and f.winid end)()", 60, "the float")
    assert EXPLANATION in lua(buggy, f"return vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf({win}), 0, -1, false)")
    wait_for(buggy, "require('gemma.progress').current() == nil", 30, "the progress to end")
    events = progress_of(buggy, "explaining…")
    assert [(e["kind"], e["message"]) for e in events] == [
        ("begin", "explaining…"), ("report", "asking the model…"), ("end", "done")]
    assert "explaining…" in events[0]["lsp_status"]  # the server's own progress, as Neovim shows it
    assert lua(buggy, "return _G.seen.echo[#_G.seen.echo]") == ""
    assert all(e in ("", "gemma: explaining…", "gemma: asking the model…")
               for e in lua(buggy, "return _G.seen.echo")), lua(buggy, "return _G.seen.echo")
    buggy.input("q")
    wait_for(buggy, f"not vim.api.nvim_win_is_valid({win})", 10, "q to close the float")
    assert lua(buggy, "return require('gemma.progress').busy()") is False


FLOATS_NOW = """
    local out = {}
    for i, f in ipairs(require('gemma.float').stack) do
      local buf = f.bufnr
      out[i] = { valid = vim.api.nvim_win_is_valid(f.winid), ft = vim.bo[buf].filetype,
                 conceal = vim.wo[f.winid].conceallevel,
                 ts = vim.treesitter.highlighter.active[buf] ~= nil,
                 title = vim.api.nvim_win_get_config(f.winid).title,
                 lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false) }
    end
    return out
"""


def test_debug_shows_the_answer_and_the_diff_before_asking_and_applies_once(buggy: pynvim.Nvim):
    lua(buggy, "require('gemma.debug').last_result = nil")
    lua(buggy, f"""
        vim.ui.select = function(items, opts, on_choice)
          local floats = (function() {FLOATS_NOW} end)()
          table.insert(_G.seen.asked, {{ prompt = opts.prompt, items = items, floats = floats }})
          on_choice(items[1], 1)
        end
    """)
    buggy.command("GemmaDebug")
    asked = wait_for(buggy, "_G.seen.asked[1]", 60, "the Apply/Discard question")
    result = lua(buggy, "return require('gemma.debug').last_result")
    assert result["proposal"]["summary"] == "1 change in buggy.py", result  # the server's Proposal
    answer, diff = asked["floats"]
    # Both floats were on screen when the question came.
    assert answer["valid"] and diff["valid"]
    assert answer["ft"] == "markdown" and answer["conceal"] == 2 and answer["ts"]
    assert "The **bug**: `add` returns `a + c`; only `a` and `b` exist." in answer["lines"]
    # The server showed the answer's SEARCH/REPLACE block as the diff of what it changes.
    assert "```diff" in answer["lines"] and "+    return a + b" in answer["lines"], answer["lines"]
    assert not any("SEARCH" in line or "REPLACE" in line for line in answer["lines"]), answer["lines"]
    assert diff["ft"] == "diff"
    assert diff["lines"][:2] == ["--- a/buggy.py", "+++ b/buggy.py"]
    assert "+    return a + b" in diff["lines"] and "-    return a + c" in diff["lines"]
    assert "1 change in buggy.py" in "".join(chunk[0] for chunk in diff["title"])
    assert asked["prompt"] == "Gemma proposes an edit (1 change in buggy.py):"
    assert asked["items"] == ["Apply the proposed edit", "Discard it"]
    wait_for(buggy, "vim.api.nvim_buf_get_lines(vim.fn.bufnr('buggy.py'), 1, 2, false)[1] == '    return a + b'",
             10, "the applied edit")
    notes = [n[0] for n in lua(buggy, "return _G.seen.notify")]
    assert notes.count("gemma: Applied: 1 change in buggy.py") == 1, notes
    assert not any("Proposed" in n for n in notes), notes
    title = lua(buggy, "return vim.api.nvim_win_get_config(require('gemma.float').stack[2].winid).title")
    assert "".join(chunk[0] for chunk in title) == " Applied: 1 change in buggy.py "  # no longer "Proposed"
    # The markdown markup is concealed: treesitter marks `**` and the backticks with conceal.
    concealed = lua(buggy, """
        local buf = require('gemma.float').stack[1].bufnr
        local line = vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1]
        local function hidden(col)
          for _, c in ipairs(vim.treesitter.get_captures_at_pos(buf, 0, col)) do
            if c.metadata and c.metadata.conceal ~= nil then return true end
          end
          return false
        end
        return { hidden(line:find('**', 1, true) - 1), hidden(line:find('`', 1, true) - 1),
                 hidden(line:find('bug', 1, true) - 1) }
    """)
    assert concealed == [True, True, False]
    print("\n".join(["answer float:", *answer["lines"], "", "diff float:", *diff["lines"]]))


def test_cycling_asks_for_the_alternatives_and_shows_i_of_n(buggy: pynvim.Nvim):
    lua(buggy, "vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def add(a, b):', '    ' })")
    buggy.command("call cursor(2, 1)")
    buggy.input("A")
    wait_for(buggy, "vim.api.nvim_get_mode().mode == 'i'", 10, "insert mode")
    lua(buggy, "require('gemma.completion').request()")  # what typing would do: an Automatic request
    wait_for(buggy, "require('gemma.completion').visible_text() == 'return a + b'", 30, "the greedy item")
    assert lua(buggy, "return require('gemma.ghost_text').count_text(0)") is None  # one item, not cycled
    shown: list[tuple[str, str]] = []
    for key in ("<M-]>", "<M-]>", "<M-]>", "<M-[>"):
        previous = shown[-1][0] if shown else ""
        buggy.input(key)
        text = wait_for(buggy, "(function() local c = require('gemma.ghost_text').count_text(0);"
                               f" return c ~= nil and c ~= '{previous}' and c end)()", 30, f"the counter after {key}")
        shown.append((text, lua(buggy, "return require('gemma.completion').visible_text()")))
    # The Invoked request brought three items, the shown (greedy) one first.
    assert shown == [
        ("2/3", "return sum((a, b))"),
        ("3/3", "return b + a"),
        ("1/3", "return a + b"),
        ("3/3", "return b + a"),
    ], shown
    marks = ghost_marks(buggy)
    assert [m["text"] for m in marks] == ["return b + a"]
    line = lua(buggy, "return vim.api.nvim_get_current_line()")
    print(f"screen line 2: {line}{marks[0]['text']}  {shown[-1][0]}")
    assert lua(buggy, "return require('gemma').accept()") is True
    assert buggy.current.buffer[1] == "    return b + a"
    assert lua(buggy, "return require('gemma.ghost_text').count_text(0)") is None
    buggy.input("<Esc>")


def test_gemma_status_is_readable(standin_buggy: pynvim.Nvim):
    standin_buggy.command("GemmaStatus")
    text = lua(standin_buggy, "return _G.seen.notify[#_G.seen.notify][1]")
    assert "sandbox: not available: user namespaces are disabled" in text, text
    assert "placeholder: yes" in text and "state: ready" in text
    assert "{" not in text and '"' not in text, text


def test_the_placeholder_notice_comes_once(standin: pynvim.Nvim):
    # The stand-in reported `placeholder: true` when it became ready; a restart reports it again.
    lua(standin, "_G.seen.notify = {}; _G.first = require('gemma.client').get().id")
    standin.command("GemmaRestart")
    wait_for(standin, "(function() local c = require('gemma.client').get();"
                      " return c and c.id ~= _G.first and require('gemma.client').status[c.id] end)()", 60,
             "the restarted server's status")
    notes = [n for n in lua(standin, "return _G.all_notes") if "is a placeholder" in n]
    assert len(notes) == 1, notes  # said when the first server became ready, not again
    assert "server.settings.model" in notes[0] and "gemma.model" not in notes[0]
    log = lua(standin, "return table.concat(require('gemma.log').lines(), '\\n')")
    assert log.count("status ready tiny") >= 2


def test_nvim_cmp_source_follows_the_documented_api(standin_buggy: pynvim.Nvim):
    # nvim-cmp cannot be installed here: stand in for it exactly as its README's source API says:
    # cmp.register_source(name, source); source:is_available(); source:complete(params, callback)
    # with params.context.{bufnr, cursor = {row, col} (1-based)}; callback({items, isIncomplete}).
    result = lua(standin_buggy, """
        vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def add(a, b):', '    ret' })
        vim.api.nvim_win_set_cursor(0, { 2, 7 })
        local registered = {}
        package.loaded['cmp'] = { register_source = function(name, src) registered[name] = src end }
        require('gemma.cmp').register()
        local src = registered.gemma
        local response
        src:complete({ context = { bufnr = vim.api.nvim_get_current_buf(),
                                   cursor = { row = 2, col = 8, line = 1, character = 7 } },
                       completion_context = { triggerKind = 1 } }, function(r) response = r end)
        vim.wait(30000, function() return response ~= nil end)
        package.loaded['cmp'] = nil
        return { available = src:is_available(), name = src:get_debug_name(), response = response }
    """)
    assert result["available"] is True and result["name"] == "gemma"
    items = result["response"]["items"]
    assert result["response"]["isIncomplete"] is False
    assert len(items) == 1
    item = items[0]
    # The stand-in's item inserts at the cursor; the menu item replaces the typed word `ret`.
    assert item["label"] == item["textEdit"]["newText"] == "retreturn a + b"
    assert item["textEdit"]["range"] == {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 7}}
    assert item["detail"] == "Gemma" and item["insertTextFormat"] == 1
    assert item["filterText"].startswith("ret")


def test_blink_source_follows_the_documented_api(standin_buggy: pynvim.Nvim):
    # blink.cmp cannot be installed here: call the source as its documented API does:
    # new(opts, config), enabled(), get_completions(ctx, callback) -> cancel function,
    # execute(ctx, item, callback, default_implementation).
    result = lua(standin_buggy, """
        vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'def add(a, b):', '    ' })
        vim.api.nvim_win_set_cursor(0, { 2, 4 })
        local src = require('gemma.blink').new({}, { name = 'Gemma', module = 'gemma.blink' })
        local bufnr = vim.api.nvim_get_current_buf()
        local ctx = { bufnr = bufnr, cursor = { 2, 4 }, line = '    ', trigger = { kind = 'manual' } }
        local response
        local cancel = src:get_completions(ctx, function(r) response = r end)
        vim.wait(30000, function() return response ~= nil end)
        local item = response.items[1]
        local defaulted, called = false, false
        src:execute(ctx, item, function() called = true end, function()
          defaulted = true
          vim.lsp.util.apply_text_edits({ item.textEdit }, bufnr, 'utf-16')
        end)
        return { enabled = src:enabled(), cancel = type(cancel), response = response,
                 defaulted = defaulted, called = called,
                 line = vim.api.nvim_buf_get_lines(bufnr, 1, 2, false)[1] }
    """)
    assert result["enabled"] is True and result["cancel"] == "function"
    assert result["response"]["is_incomplete_forward"] is False
    assert [i["textEdit"]["newText"] for i in result["response"]["items"]] == ["return a + b"]
    assert result["defaulted"] and result["called"]
    assert result["line"] == "    return a + b"


# ----------------------------------------------------------------------------------- no server


@pytest.fixture
def nvim(tmp_path: Path) -> Iterator[pynvim.Nvim]:
    with nvim_session(tmp_path) as nvim:
        lua(nvim, "_G.notes = {}; vim.notify = function(m, l) table.insert(_G.notes, { m, l or 2 }) end")
        yield nvim


def test_setup_warns_once_when_the_server_command_is_not_executable(nvim: pynvim.Nvim):
    lua(nvim, "require('gemma').setup({ server = { cmd = { 'no-such-gemma-lsp', '--model', 'tiny' } } })")
    lua(nvim, "require('gemma').setup({ server = { cmd = { 'no-such-gemma-lsp' } } })")
    notes = lua(nvim, "return _G.notes")
    assert len(notes) == 1, notes
    message, level = notes[0]
    assert level == 3  # WARN
    assert "'no-such-gemma-lsp' is not executable" in message and "server.cmd" in message
    assert "gemma.model" not in message  # Neovim's own terms
    lua(nvim, "require('gemma').setup(...)", {"server": {"cmd": [sys.executable, "-m", "gemma_lsp"],
                                                        "autostart": False}})
    assert len(lua(nvim, "return _G.notes")) == 1  # an executable command: no warning


def test_the_statusline_component_is_added_only_where_the_user_has_none(nvim: pynvim.Nvim, tmp_path: Path):
    lua(nvim, "require('gemma').setup({ server = { autostart = false } })")
    statusline = lua(nvim, "return vim.go.statusline")
    assert "v:lua.require'gemma'.statusline()" in statusline
    assert lua(nvim, "return require('gemma').statusline()") == ""  # no client: nothing shown
    # A user's own statusline is left alone, also on a later setup() call.
    with nvim_session(tmp_path / "own") as other:
        lua(other, "vim.o.statusline = '%f %=mine'; require('gemma').setup({ server = { autostart = false } })")
        assert lua(other, "return vim.go.statusline") == "%f %=mine"
    lua(nvim, "require('gemma').setup({ statusline = false, server = { autostart = false } })")
    assert lua(nvim, "return vim.go.statusline") == ""


def test_help_gemma_opens_the_introduction(nvim: pynvim.Nvim, tmp_path: Path):
    import shutil

    docs = tmp_path / "rtp" / "doc"
    docs.mkdir(parents=True)
    shutil.copy(PLUGIN / "doc" / "gemma.txt", docs / "gemma.txt")
    nvim.command(f"set runtimepath^={docs.parent}")
    nvim.command(f"helptags {docs}")
    nvim.command("help gemma")
    assert nvim.current.buffer.name.endswith("gemma.txt")
    assert nvim.current.window.cursor[0] == 1  # the top: the introduction, not a later section
    assert "*gemma*" in nvim.current.line
    for tag in ("gemma-statusline", "gemma-cmp", "gemma-blink", "gemma-progress"):
        nvim.command(f"help {tag}")


@pytest.mark.parametrize(("title", "value", "shown"), [
    ("Gemma", {"kind": "begin", "title": "Gemma", "message": "explaining…"}, "explaining…"),
    ("Gemma: loading tiny", {"kind": "report", "message": "reading weights", "percentage": 40},
     "loading tiny: reading weights (40%)"),
    ("Gemma", {"kind": "report", "message": "running tests…"}, "running tests…"),
])
def test_progress_text_has_no_second_gemma_prefix(nvim: pynvim.Nvim, title: str, value: dict, shown: str):
    assert lua(nvim, "return require('gemma.progress').format(...)", value, title) == shown
