"""Post-processing golden cases (fixtures/postprocess.json): for a cursor in a small file and a raw model
reply, the exact text to insert. Every rule of gemma_lsp.context.postprocess has cases here."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemma_lsp.context.postprocess import clean_completion

from .conftest import FIXTURES, build_at

CASES = json.loads((FIXTURES / "postprocess.json").read_text("utf-8"))


def test_every_rule_has_cases():
    rules = {case["rule"] for case in CASES}
    assert {"fences", "chatter", "repeated line start", "shape", "suffix overlap", "following lines",
            "never insert a line that already follows", "indentation", "brackets", "garbage"} <= rules


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_clean_completion(case):
    ctx = build_at(case["code"], uri=case["uri"])
    assert clean_completion(case["raw"], ctx) == case["expected"]


_pieces = st.sampled_from(["x", " ", "\n", "    ", "\t", "(", ")", "[", "]", "{", "}", "\"", "'", "```", "```python\n",
                           "Sure! ", "Here is the code:", "return total", "<turn|>", "<CURSOR>", "😀", "世界", ":", ";"])


@settings(max_examples=300, deadline=None)
@given(raw=st.lists(_pieces, max_size=30).map("".join),
       where=st.sampled_from(["x = compute(|)\n", "def f(a):\n    |\n    return total\n", "if (a) {|\n}\n", "|"]))
def test_never_garbage(raw, where):
    """Whatever the model says, the answer has no markers or fences, and repeats no following line."""
    ctx = build_at(where, uri="file:///w/a.js" if "{" in where else "file:///w/a.py")
    text = clean_completion(raw, ctx)
    assert "<CURSOR>" not in text and "<turn|>" not in text and "```" not in text
    assert text == text.rstrip()
    following = [line.strip() for line in ctx.text_after.split("\n")[1:] if line.strip()]
    lines = [line.strip() for line in text.split("\n")]
    if following and ctx.mode == "multi":
        assert following[0] not in (lines if not ctx.line_suffix.strip() else lines[1:])
    if ctx.mode == "single":
        assert "\n" not in text
