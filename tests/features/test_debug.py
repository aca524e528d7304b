"""Debug sessions end to end below LSP: scripted model, real files, edits, limits, transcripts."""

from __future__ import annotations

import stat
from pathlib import Path

from gemma_lsp.agent.edits import Snapshot, apply_text_edits
from gemma_lsp.agent.loop import default_describe
from gemma_lsp.agent.prompts import CodeFocus
from gemma_lsp.config import Settings
from gemma_lsp.engine.base import CancelToken
from gemma_lsp.engine.scripted import ScriptedEngine
from gemma_lsp.features.debug import DebugOutcome, DebugRequest, Toolbox
from gemma_lsp.features.debug import debug as run_debug
from gemma_lsp.gemma4.codec import ToolCall
from tests.agent.tool_stubs import READ, Result

CALC = "def add(a, b):\n    return a - b\n"
ANSWER = ("**What is wrong:** `add` subtracts (calc.py, line 2).\n\n**The fix:**\n\ncalc.py\n"
          "<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n")


class ReadingExecutor:
    """Reads real files of the workspace (what the built-in read_file does, minus the safety)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def execute(self, call: ToolCall, cancel: CancelToken) -> Result:
        if call.name != "read_file":
            return Result(False, error=f"no tool {call.name}")
        return Result(True, {"text": (self.root / call.arguments["path"]).read_text()})


def setup(tmp_path: Path) -> tuple[Path, Snapshot, CodeFocus]:
    ws = tmp_path / "ws"
    ws.mkdir(parents=True)
    (ws / "calc.py").write_text(CALC)
    doc = Snapshot((ws / "calc.py").as_uri(), CALC, 4, ws / "calc.py", "python", encoding="utf-16")
    return ws, doc, CodeFocus("calc.py", "python", CALC, 1, 1)


async def debug(tmp_path: Path, replies: list, settings: Settings | None = None) -> DebugOutcome:
    ws, doc, focus = setup(tmp_path)
    engine = ScriptedEngine(script={"debug": replies})
    request = DebugRequest(focus, doc, ws, lambda p: Snapshot(p.as_uri(), p.read_text(), None, p, encoding="utf-16"),
                           question="why?")
    return await run_debug(engine, Toolbox(ReadingExecutor(ws), [], default_describe), settings or Settings(),
                           request, CancelToken(), transcripts=tmp_path / "cache" / "transcripts")


async def test_answer_with_a_fix_becomes_a_versioned_edit_and_a_private_transcript(tmp_path):
    outcome = await debug(tmp_path, [READ, ANSWER])
    assert outcome.stop_reason == "answered"
    (change,) = outcome.edit.document_changes
    assert change.text_document.version == 4
    assert apply_text_edits(CALC, change.edits, "utf-16") == CALC.replace("-", "+")
    assert "Proposed edit: 1 change in calc.py." in outcome.answer
    assert outcome.transcript.parent == tmp_path / "cache" / "transcripts"
    assert stat.S_IMODE(outcome.transcript.stat().st_mode) == 0o600
    assert stat.S_IMODE(outcome.transcript.parent.stat().st_mode) == 0o700
    text = outcome.transcript.read_text()
    assert "Tool call: `read_file`" in text and "## Tool result: read_file" in text and "return a - b" in text


async def test_limit_note_and_best_answer_so_far(tmp_path):
    settings = Settings()
    settings.debug.max_tool_calls = 1
    outcome = await debug(tmp_path, ["Looking at calc.py." + READ, READ], settings)
    assert outcome.stop_reason == "max_tool_calls" and outcome.result.tool_calls == 1
    assert outcome.answer.startswith("_The session reached its limit on tool calls (1); this is the best")
    assert "Looking at calc.py." in outcome.answer and outcome.edit is None


async def test_answer_without_blocks_or_with_a_bad_block_has_no_edit(tmp_path):
    outcome = await debug(tmp_path, ["It subtracts; make it add."])
    assert outcome.edit is None and outcome.edit_message == "The answer proposes no edit."
    bad = ANSWER.replace("    return a - b\n=", "    return a * b\n=")
    outcome = await debug(tmp_path / "b", [bad])
    assert outcome.edit is None and "does not match the current text of calc.py" in outcome.edit_message
    assert "**The proposed fix was not used" in outcome.answer


async def test_thoughts_hidden_unless_asked(tmp_path):
    reply = "<|channel>thought\nsecret reasoning<channel|>" + ANSWER
    outcome = await debug(tmp_path, [reply])
    assert "secret reasoning" not in outcome.answer
    settings = Settings()
    settings.debug.show_thoughts = True
    outcome = await debug(tmp_path / "b", [reply], settings)
    assert "<summary>Thoughts</summary>" in outcome.answer and "secret reasoning" in outcome.answer
