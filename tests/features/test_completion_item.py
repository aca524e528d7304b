"""features.completion_item: the suggestion as one completion item (pure)."""

from __future__ import annotations

from gemma_lsp.features.completion_item import documentation, short_label, suggestion_item


def test_the_item_replaces_the_typed_word():
    item = suggestion_item("    ret", "urn a + b")
    assert (item.word, item.new_text, item.filter_text, item.label) == (
        "ret", "return a + b", "return a + b", "return a + b")
    assert suggestion_item("    x = foo(", "a, b)").word == ""
    assert suggestion_item("naïve_näme", "s = 1").word == "naïve_näme"


def test_labels_are_short_and_one_line():
    assert short_label("\n    return x\n") == "return x"
    assert short_label("a = 1\nb = 2") == "a = 1…"
    assert short_label("x" * 100) == "x" * 59 + "…"
    assert short_label("   ") == "…"


def test_documentation_fences_the_whole_suggestion():
    assert documentation("a = 1\nb = 2", "python") == "```python\na = 1\nb = 2\n```"
    assert documentation("s = '```'", "") == "````\ns = '```'\n````"
