"""The completion prompt (Gemma 4 chat messages + pre-fill, rendered by the fixture tokenizer's Gemma 4
template) and the early-stop checks for single- and multi-line completions."""

from __future__ import annotations

import pytest

from gemma_lsp.context.prompt import CURSOR, completion_messages, stop_check_for

from .conftest import build_at


def test_messages_show_the_file_with_a_cursor_and_the_related_parts():
    ctx = build_at("import os\n\ndef helper(x):\n    '''Help.'''\n    return x\n\n" + "\n" * 3 +
                   "def main():\n    value = helper(|)\n", budget=2000)
    messages, prefill = completion_messages(ctx)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert f"value = helper({CURSOR})" in user
    assert "```python\n" in user and prefill == "```python\n"
    assert user.rstrip().endswith("write only the rest of that line.")


def test_multi_line_instruction_and_plain_text_fence():
    ctx = build_at("notes\n|\n", uri="file:///w/notes.txt")
    messages, prefill = completion_messages(ctx)
    assert ctx.language is None and prefill == "```\n"
    assert "(plain text)" in messages[1]["content"]
    assert "stop at the end of that block" in messages[1]["content"]


def test_rendered_with_the_gemma4_chat_template():
    from gemma_lsp.models.tiny import build_tokenizer

    ctx = build_at("def f(x):\n    return |\n")
    messages, prefill = completion_messages(ctx)
    prompt = build_tokenizer().apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefill
    assert prompt.startswith("<bos><|turn>system\n")
    assert prompt.endswith("<|turn>model\n```python\n")
    assert "<|turn>user\nFile: /w/main.py (python)" in prompt


@pytest.mark.parametrize("generated, cut", [
    ("x + 1", None),  # the line may still grow
    ("x + 1\ny = 2", 5),
    ("x + 1```", 5),
    ("```python\nx", None),  # a second opening fence is not a closing one
])
def test_single_line_stops_at_end_of_line_or_fence(generated, cut):
    ctx = build_at("def f(x):\n    return |\n")
    assert ctx.mode == "single"
    assert stop_check_for(ctx)(generated) == cut


def test_multi_line_stops_before_a_dedent():
    ctx = build_at("class A:\n    def f(self):|\n")
    assert ctx.mode == "multi" and ctx.indent == "        "
    check = stop_check_for(ctx)
    body = "\n        x = 1\n        return x\n"
    assert check(body) is None
    text = body + "    def g(self):\n"
    assert text[: check(text)] == body.rstrip("\n")


def test_multi_line_stops_at_two_blank_lines_and_at_a_fence():
    ctx = build_at("def f():\n    |\n")
    check = stop_check_for(ctx)
    text = "x = 1\n\n\n    y = 2\n"
    assert text[: check(text)] == "x = 1"
    assert check("x = 1\n```") == len("x = 1\n")


def test_multi_line_at_top_level_stops_at_the_next_top_level_statement():
    ctx = build_at("import os\n\n|")
    assert ctx.mode == "multi" and ctx.indent == ""
    text = "def f():\n    return 1\n\ndef g():\n"
    assert text[: stop_check_for(ctx)(text)] == "def f():\n    return 1\n"


def test_brace_block_stops_before_the_closing_brace():
    ctx = build_at("function f(a) {|\n}\n", uri="file:///w/a.js")
    text = "\n  const b = a * 2;\n  return b;\n}\n"
    assert text[: stop_check_for(ctx)(text)] == "\n  const b = a * 2;\n  return b;"
