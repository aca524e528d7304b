"""The completion cache: typing through a suggestion returns the rest without a model call; going back,
typing something else or editing elsewhere invalidates it."""

from __future__ import annotations

from gemma_lsp.context.cache import CompletionCache

URI = "file:///w/a.py"


def test_typing_through_returns_the_rest():
    cache = CompletionCache()
    cache.store(URI, "x = ", "\nprint(x)\n", "compute(1, 2)")
    assert cache.lookup(URI, "x = ", "\nprint(x)\n") == "compute(1, 2)"
    assert cache.lookup(URI, "x = comp", "\nprint(x)\n") == "ute(1, 2)"
    assert cache.lookup(URI, "x = compute(1,", "\nprint(x)\n") == " 2)"
    assert cache.hits == 3


def test_typing_all_of_it_leaves_nothing_to_offer():
    cache = CompletionCache()
    cache.store(URI, "x = ", "", "1")
    assert cache.lookup(URI, "x = 1", "") is None


def test_typing_something_else_invalidates():
    cache = CompletionCache()
    cache.store(URI, "x = ", "", "compute(1)")
    assert cache.lookup(URI, "x = cox", "") is None
    assert cache.lookup(URI, "x = co", "") is None  # gone, even though this would match


def test_going_back_past_the_start_invalidates():
    cache = CompletionCache()
    cache.store(URI, "x = ", "", "compute(1)")
    assert cache.lookup(URI, "x =", "") is None
    assert cache.lookup(URI, "x = ", "") is None


def test_editing_elsewhere_invalidates():
    cache = CompletionCache()
    cache.store(URI, "import os\nx = ", "\nprint(x)\n", "compute(1)")
    assert cache.lookup(URI, "import sys\nx = c", "\nprint(x)\n") is None
    cache.store(URI, "x = ", "\nprint(x)\n", "compute(1)")
    assert cache.lookup(URI, "x = c", "\nprint(y)\n") is None


def test_documents_are_separate_and_invalidate_clears():
    cache = CompletionCache()
    cache.store(URI, "a", "", "bc")
    cache.store("file:///w/b.py", "a", "", "xy")
    assert cache.lookup("file:///w/b.py", "a", "") == "xy"
    cache.invalidate(URI)
    assert cache.lookup(URI, "a", "") is None
    assert cache.lookup("file:///w/b.py", "ax", "") == "y"


def test_bounded_number_of_documents():
    cache = CompletionCache(max_documents=2)
    for name in "abc":
        cache.store(f"file:///{name}", "", "", "text")
    assert cache.lookup("file:///a", "", "") is None
    assert cache.lookup("file:///c", "t", "") == "ext"
