"""read_file, list_files and search_text through the executor, on real files, including hostile paths."""

from __future__ import annotations

import pytest

from gemma_lsp.gemma4.codec import ToolCall
from gemma_lsp.toolbox import ToolCatalog, ToolExecutor, ToolSettings


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("".join(f"line {i}\n" for i in range(1, 401)))
    (ws / "src" / "pkg" / "util.py").write_text("def parse(text):\n    return text.split('{')\n")
    (ws / "README.md").write_text("# demo\nparse things\n")
    (ws / ".gitignore").write_text("build/\n*.log\n")
    (ws / "build").mkdir()
    (ws / "build" / "out.py").write_text("def parse(): pass\n")
    (ws / "debug.log").write_text("parse log\n")
    (ws / ".env").write_text("API_KEY=sk-live-secret\n")
    (ws / "config").mkdir()
    (ws / "config" / ".env.production").write_text("DB_PASSWORD=hunter2\n")
    (ws / "deploy_key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (ws / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0binary")
    (ws / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "outside.txt").write_text("OUTSIDE-SECRET\n")
    (ws / "escape_link").symlink_to(tmp_path / "outside.txt")
    (ws / "escape_dir").symlink_to(tmp_path)
    (ws / "inside_link.py").symlink_to(ws / "src" / "app.py")
    (ws / "notes.txt").symlink_to(ws / ".env")
    return ws


@pytest.fixture
def run(workspace):
    executor = ToolExecutor(ToolCatalog.load(workspace), workspace, ToolSettings(max_read_bytes=2_000))

    async def call(name, **arguments):
        return await executor.execute(ToolCall(name, arguments))

    return call


async def test_read_a_line_range(run):
    result = await run("read_file", path="src/app.py", start_line=40, end_line=42)
    assert result.ok, result.error
    assert result.content["content"] == "line 40\nline 41\nline 42\n"
    assert (result.content["start_line"], result.content["end_line"], result.content["total_lines"]) == (40, 42, 400)
    assert result.summary == "read src/app.py:40-42"


async def test_long_files_are_cut_with_a_note_saying_how_to_go_on(run):
    result = await run("read_file", path="src/app.py")
    assert result.ok
    assert len(result.content["content"]) <= 2_000
    assert result.content["content"].endswith("\n")
    last = result.content["end_line"]
    assert f"start_line {last + 1}" in result.content["note"]


async def test_symlink_inside_the_workspace_is_fine(run):
    result = await run("read_file", path="inside_link.py", end_line=1)
    assert result.ok and result.content["content"] == "line 1\n"
    assert result.content["path"] == "src/app.py"


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "src/../../outside.txt", "escape_link", "escape_dir/outside.txt", "/etc/passwd",
     "/etc/shadow", "/root/.ssh/id_rsa"],
)
async def test_paths_outside_the_workspace_are_refused(run, path):
    result = await run("read_file", path=path)
    assert not result.ok
    assert "outside the workspace" in result.error
    assert "OUTSIDE-SECRET" not in str(result.content)


async def test_absolute_path_inside_the_workspace_is_allowed(run, workspace):
    result = await run("read_file", path=str(workspace / "README.md"))
    assert result.ok and result.content["content"].startswith("# demo")


@pytest.mark.parametrize("path", [".env", "config/.env.production", "deploy_key.pem", "notes.txt"])
async def test_secrets_are_refused_by_default(run, path):
    result = await run("read_file", path=path)
    assert not result.ok and "secret" in result.error
    assert "sk-live" not in str(result.to_dict()) and "hunter2" not in str(result.to_dict())


async def test_deny_list_is_configurable(workspace):
    executor = ToolExecutor(ToolCatalog.load(workspace), workspace, ToolSettings(deny=("*.md",)))
    assert (await executor.execute(ToolCall("read_file", {"path": ".env"}))).ok
    assert not (await executor.execute(ToolCall("read_file", {"path": "README.md"}))).ok


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"path": "src/app.py\0.txt"}, "NUL"),
        ({"path": "image.png"}, "binary"),
        ({"path": "latin1.txt"}, "not UTF-8"),
        ({"path": "missing.py"}, "does not exist"),
        ({"path": "src"}, "is a folder"),
        ({"path": "src/app.py", "start_line": 500}, "only 400 lines"),
        ({"path": "src/app.py", "start_line": 5, "end_line": 2}, "before start_line"),
        ({"path": "src/app.py", "start_line": 0}, "minimum of 1"),
        ({"path": 3}, "is not of type 'string'"),
        ({}, "'path' is a required property"),
    ],
)
async def test_bad_reads_give_clear_errors(run, arguments, message):
    result = await run("read_file", **arguments)
    assert not result.ok
    assert message in result.error
    assert result.summary.startswith("read_file failed")


async def test_huge_file_reads_only_the_start(run, workspace):
    (workspace / "huge.txt").write_text("x" * 99 + "\n" * 1 + ("y" * 99 + "\n") * 50_000)
    result = await run("read_file", path="huge.txt")
    assert result.ok
    assert result.content["total_lines"] is None and "only the start" in result.content["note"] or \
        "cut at" in result.content["note"]
    assert len(result.content["content"]) <= 2_000


async def test_list_files_respects_gitignore_and_does_not_follow_links(run):
    result = await run("list_files")
    assert result.ok
    entries = result.content["entries"]
    assert "src/app.py" in entries and "src/pkg/util.py" in entries and "README.md" in entries
    assert not any(e.startswith("build") or e.endswith(".log") for e in entries)
    assert "escape_dir" in entries  # the link itself is listed...
    assert not any(e.startswith("escape_dir/") for e in entries)  # ...but not walked into


async def test_list_files_with_glob_and_limit(workspace):
    executor = ToolExecutor(ToolCatalog.load(workspace), workspace, ToolSettings(max_list_entries=2))
    result = await executor.execute(ToolCall("list_files", {"glob": "**/*.py"}))
    assert result.ok and result.content["truncated"] and len(result.content["entries"]) == 2
    assert all(e.endswith(".py") for e in result.content["entries"])
    out = await executor.execute(ToolCall("list_files", {"path": "../"}))
    assert not out.ok and "outside the workspace" in out.error


async def test_search_text_finds_lines_and_skips_ignored_and_secret_files(run):
    result = await run("search_text", pattern=r"parse")
    assert result.ok, result.error
    found = {(m["path"], m["line"]) for m in result.content["matches"]}
    assert ("src/pkg/util.py", 1) in found and ("README.md", 2) in found
    assert not any(p.startswith("build/") or p.endswith(".log") for p, _ in found)
    secrets = await run("search_text", pattern="sk-live|hunter2|PRIVATE KEY|OUTSIDE-SECRET")
    assert secrets.ok and secrets.content["matches"] == []


async def test_search_text_with_braces_glob_and_case(run):
    result = await run("search_text", pattern=r"SPLIT\('\{'\)", ignore_case=True, glob="*.py")
    assert result.ok and [m["path"] for m in result.content["matches"]] == ["src/pkg/util.py"]


async def test_search_text_refuses_bad_regex_and_survives_catastrophic_ones(workspace):
    settings = ToolSettings(search_timeout_seconds=1)
    executor = ToolExecutor(ToolCatalog.load(workspace), workspace, settings)
    bad = await executor.execute(ToolCall("search_text", {"pattern": "(unclosed"}))
    assert not bad.ok and "invalid regular expression" in bad.error
    (workspace / "evil.txt").write_text("a" * 40 + "!\n")
    slow = await executor.execute(ToolCall("search_text", {"pattern": r"^(a+)+$", "path": "evil.txt"}))
    assert not slow.ok and "longer than 1 s" in slow.error
    assert (await executor.execute(ToolCall("list_files", {}))).ok  # still serving
