"""The explain / fix / debug prompts, rendered through the real Gemma 4 chat template."""

from __future__ import annotations

from gemma_lsp.agent import prompts
from gemma_lsp.engine.scripted import ScriptedEngine

TEXT = "".join(f"line {i}\n" for i in range(1, 101))
FOCUS = prompts.CodeFocus("src/app.py", "python", TEXT, 49, 50, "NameError: name 'x' is not defined (pyright)")


def test_fix_prompt_shows_the_region_to_rewrite_and_numbered_context():
    (system, user) = prompts.fix_messages(FOCUS, "keep it short")
    text = user["content"]
    assert prompts.fix_region(FOCUS) == (48, 51)
    assert "Rewrite lines 49-52" in text and "```python\nline 49\nline 50\nline 51\nline 52\n```" in text
    assert "\n30 | line 30\n" in text and "\n71 | line 71\n" in text and "29 | " not in text
    assert "NameError" in text and "keep it short" in text and system["role"] == "system"


def test_selection_fix_without_instruction_still_asks_for_something_definite():
    focus = prompts.CodeFocus("a.py", "python", TEXT, 0, 0)
    assert "Fix any bug in the code at line 1" in prompts.fix_messages(focus)[1]["content"]


def test_debug_prompt_renders_with_tools_and_thinking():
    messages = prompts.debug_messages(FOCUS, "why?", "tests/test_app.py::test_x")
    tools = [{"type": "function", "function": {"name": "run_tests", "description": "Run the tests",
                                                "parameters": {"type": "object", "properties": {}}}}]
    rendered = ScriptedEngine(script={}).render(messages, tools, thinking=True)
    assert rendered.startswith("<bos><|turn>system\n<|think|>\nYou are a careful")
    assert "<<<<<<< SEARCH" in rendered and "<|tool>declaration:run_tests{" in rendered
    assert "`tests/test_app.py::test_x`" in rendered and "The developer asks: why?" in rendered
    assert rendered.endswith("<|turn>model\n")


def test_explain_prompt_quotes_the_diagnostic():
    content = prompts.explain_messages(FOCUS)[1]["content"]
    assert "> NameError: name 'x' is not defined (pyright)" in content and "lines 50-51" in content
