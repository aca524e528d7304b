"""Post-processing golden cases (fixtures/postprocess.json): for a cursor in a small file and a raw model
reply, the exact text to insert. Every rule of gemma_lsp.context.postprocess has cases here."""

from __future__ import annotations

import json

import pytest

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
