"""The chat template: golden strings for every message shape the project sends, in both variants.

The expected strings were checked against Google's canonical Gemma 4 template of 2026-07-09 (E2B/E4B
and 26B/31B files, read through ollama/ollama's test data); they pin what the official template renders,
so a change here is a change in what a released checkpoint would read.
"""

from __future__ import annotations

import pytest
from jinja2.exceptions import TemplateError

from gemma_lsp.gemma4 import messages as shapes
from gemma_lsp.gemma4 import template
from gemma_lsp.gemma4.codec import ToolCall
from gemma_lsp.gemma4.template import BIG_VARIANT, E_VARIANT

SYSTEM = {"role": "system", "content": "  Be brief.\n"}
USER = {"role": "user", "content": "\n  Why does test_add fail?  \n"}
READ_FILE = {"type": "function", "function": {
    "name": "read_file", "description": "Read a file.",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["path"], "properties": {
        "path": {"type": "string", "description": "Relative path", "minLength": 1, "maxLength": 4096},
        "Start_line": {"type": "integer", "minimum": 1},
        "mode": {"type": "string", "enum": ["text", "Lines"]},
        "globs": {"type": "array", "items": {"type": "string"}},
    }}}}
RUN_TESTS = {"type": "function", "function": {
    "name": "run_tests", "description": "Run the tests.",
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"target": {"type": "string", "description": "A test id"}}}}}
TOOLS = [READ_FILE, RUN_TESTS]
RUN = shapes.assistant_calls([ToolCall("run_tests", {})], ["call_1"], reasoning="Run the tests first.")
RAN = shapes.tool_result("call_1", "run_tests", {"exit_code": 1, "output": "FAILED test_add"})
TWO = shapes.assistant_calls([ToolCall("read_file", {"path": "calc.py", "Start_line": 1, "mode": "text"}),
                              ToolCall("run_tests", {"target": "test_calc.py"})], ["call_2", "call_3"])
READ = shapes.tool_result("call_2", "read_file", "def add(a, b):\n    return a - b\n")
RAN2 = shapes.tool_result("call_3", "run_tests", "1 failed")
ANSWER = shapes.assistant_answer("`add` subtracts: use `a + b`.", reasoning="It subtracts.")
LATER = {"role": "system", "content": " The tool-call limit is near. "}
USER2 = {"role": "user", "content": "And now?"}

# Pieces of the golden strings. Declarations: only description/type/properties/required/enum/items
# survive (additionalProperties, minimum, minLength, maxLength are dropped), keys in dictsort order
# (case ignored: globs, mode, path, Start_line), schema types upper-cased.
S = '<|"|>'
DECLARATIONS = (
    f"<|tool>declaration:read_file{{description:{S}Read a file.{S},parameters:{{properties:{{"
    f"globs:{{items:{{type:{S}STRING{S}}},type:{S}ARRAY{S}}},"
    f"mode:{{enum:[{S}text{S},{S}Lines{S}],type:{S}STRING{S}}},"
    f"path:{{description:{S}Relative path{S},type:{S}STRING{S}}},"
    f"Start_line:{{type:{S}INTEGER{S}}}}},required:[{S}path{S}],type:{S}OBJECT{S}}}}}<tool|>"
    f"<|tool>declaration:run_tests{{description:{S}Run the tests.{S},parameters:{{properties:{{"
    f"target:{{description:{S}A test id{S},type:{S}STRING{S}}}}},type:{S}OBJECT{S}}}}}<tool|>"
)
USER_TURN = "<|turn>user\nWhy does test_add fail?<turn|>\n"  # trimmed
CALL_RUN = "<|tool_call>call:run_tests{}<tool_call|>"
RESULT_RUN = f'<|tool_response>response:run_tests{{value:{S}{{"exit_code": 1, "output": "FAILED test_add"}}{S}}}<tool_response|>'
CALLS_TWO = (f"<|tool_call>call:read_file{{mode:{S}text{S},path:{S}calc.py{S},Start_line:1}}<tool_call|>"
             f"<|tool_call>call:run_tests{{target:{S}test_calc.py{S}}}<tool_call|>")
# Each result is named after its own call through tool_call_id, whatever the order they come in.
RESULTS_TWO = (f"<|tool_response>response:run_tests{{value:{S}1 failed{S}}}<tool_response|>"
               f"<|tool_response>response:read_file{{value:{S}def add(a, b):\n    return a - b\n{S}}}<tool_response|>")
THOUGHT_RUN = "<|channel>thought\nRun the tests first.\n<channel|>"
GEN = "<|turn>model\n"

# name -> (messages, tools, thinking, golden E2B/E4B rendering)
GOLDEN = {
    "system": ([SYSTEM, USER], None, False,
               "<bos><|turn>system\nBe brief.<turn|>\n" + USER_TURN + GEN),
    "no_system": ([USER], None, False, "<bos>" + USER_TURN + GEN),
    "thinking_on": ([SYSTEM, USER], None, True,
                    "<bos><|turn>system\n<|think|>\nBe brief.<turn|>\n" + USER_TURN + GEN),
    "thinking_on_without_system": ([USER], None, True,
                                   "<bos><|turn>system\n<|think|>\n<turn|>\n" + USER_TURN + GEN),
    "tools": ([SYSTEM, USER], TOOLS, False,
              "<bos><|turn>system\nBe brief." + DECLARATIONS + "<turn|>\n" + USER_TURN + GEN),
    "later_system_message": ([SYSTEM, USER, LATER, USER2], None, False,
                             "<bos><|turn>system\nBe brief.<turn|>\n" + USER_TURN
                             + "<|turn>system\nThe tool-call limit is near.<turn|>\n"
                             + "<|turn>user\nAnd now?<turn|>\n" + GEN),
    # After results the model turn stays open: no <turn|>, no new <|turn>model.
    "tool_call_and_result_reasoning_kept": (
        [SYSTEM, USER, RUN, RAN], TOOLS, False,
        "<bos><|turn>system\nBe brief." + DECLARATIONS + "<turn|>\n" + USER_TURN + GEN
        + THOUGHT_RUN + CALL_RUN + RESULT_RUN),
    # With thinking on, the prompt after results opens the thought the model's reply starts in.
    "tool_result_thinking_on": (
        [SYSTEM, USER, RUN, RAN], TOOLS, True,
        "<bos><|turn>system\n<|think|>\nBe brief." + DECLARATIONS + "<turn|>\n" + USER_TURN + GEN
        + THOUGHT_RUN + CALL_RUN + RESULT_RUN + "<|channel>thought\n"),
    "several_calls_per_turn_with_ids": (
        [SYSTEM, USER, RUN, RAN, TWO, RAN2, READ], TOOLS, False,
        "<bos><|turn>system\nBe brief." + DECLARATIONS + "<turn|>\n" + USER_TURN + GEN
        + THOUGHT_RUN + CALL_RUN + RESULT_RUN + CALLS_TWO + RESULTS_TWO),
    # A finished answer before the last user message: its reasoning is dropped, its text closes the turn.
    "final_answer_then_user": (
        [SYSTEM, USER, RUN, RAN, TWO, RAN2, READ, ANSWER, USER2], TOOLS, False,
        "<bos><|turn>system\nBe brief." + DECLARATIONS + "<turn|>\n" + USER_TURN + GEN
        + CALL_RUN + RESULT_RUN + CALLS_TWO + RESULTS_TWO + "`add` subtracts: use `a + b`.<turn|>\n"
        + "<|turn>user\nAnd now?<turn|>\n" + GEN),
}


def _big(golden: str, thinking: bool) -> str:
    """The 26B/31B rendering: the same, plus an empty thought after a fresh `<|turn>model\\n` when
    thinking is off."""
    return golden + "<|channel>thought\n<channel|>" if golden.endswith(GEN) and not thinking else golden


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_renderings_in_both_variants(name):
    messages, tools, thinking, golden = GOLDEN[name]
    assert template.render(messages, tools, thinking=thinking, variant=E_VARIANT) == golden
    assert template.render(messages, tools, thinking=thinking, variant=BIG_VARIANT) == _big(golden, thinking)


def test_the_big_variant_ends_an_unthinking_generation_prompt_with_an_empty_thought():
    assert template.render([USER], variant=BIG_VARIANT) == (
        "<bos><|turn>user\nWhy does test_add fail?<turn|>\n<|turn>model\n<|channel>thought\n<channel|>")
    assert template.render([USER], variant=E_VARIANT) == "<bos><|turn>user\nWhy does test_add fail?<turn|>\n<|turn>model\n"


@pytest.mark.parametrize("variant", template.VARIANTS)
def test_the_fixture_tokenizer_renders_what_the_template_renders(variant):
    from gemma_lsp.models.tiny import build_tokenizer

    tokenizer = build_tokenizer(variant)
    for name, (messages, tools, thinking, _) in GOLDEN.items():
        assert template.render_with(tokenizer, messages, tools, thinking) == template.render(
            messages, tools, thinking=thinking, variant=variant), name


def test_the_tiny_model_carries_the_e_variant():
    from gemma_lsp.models.tiny import build_tokenizer

    assert build_tokenizer().chat_template == template.chat_template(E_VARIANT)
    assert template.chat_template(E_VARIANT) != template.chat_template(BIG_VARIANT)


@pytest.mark.parametrize(("model", "variant"), [
    ("31b", BIG_VARIANT), ("26b", BIG_VARIANT), ("google/gemma-4-31B-it", BIG_VARIANT),
    ("google/gemma-4-26B-A4B-it", BIG_VARIANT), ("/srv/models/Gemma-4-31b-it-FP8", BIG_VARIANT),
    ("e2b", E_VARIANT), ("e4b", E_VARIANT), ("google/gemma-4-E4B-it", E_VARIANT), ("tiny", E_VARIANT),
    ("gemma-4-131b-it", E_VARIANT), (None, E_VARIANT), ("", E_VARIANT),
])
def test_the_variant_follows_the_model_name(model, variant):
    assert template.variant_for(model) == variant


def test_object_content_in_a_tool_message_is_refused_with_a_clear_error():
    # The shape the debug loop used to send: the canonical template fails on it obscurely.
    with pytest.raises(TemplateError, match="must be a string"):
        template.render([USER, RUN, {"role": "tool", "name": "run_tests", "content": {"exit_code": 1}}])


def test_json_string_arguments_are_refused():
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]}
    with pytest.raises(TemplateError, match="decode it first"):
        template.render([USER, call])


def test_a_call_without_its_result_ends_where_the_result_goes():
    assert template.render([USER, RUN]).endswith(THOUGHT_RUN + CALL_RUN + "<|tool_response>")


def test_the_generation_opens_a_thought_only_after_tool_results_with_thinking_on():
    assert template.generation_opens_thought([USER, RUN, RAN], thinking=True)
    assert not template.generation_opens_thought([USER, RUN, RAN], thinking=False)
    assert not template.generation_opens_thought([USER], thinking=True)
