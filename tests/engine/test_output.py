"""The output shaper (engine/output.py): the one place stop strings, hold-back, stop_check and prefill
stripping are decided for every engine.

The property tests compare the shaper, fed raw text in arbitrary pieces, with a declarative reference
written on the whole text: the reply must not depend on how the raw text was split (so engines that
stream in different pieces give the same reply).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from gemma_lsp.engine.output import OutputShaper, held_back

Check = Callable[[str], int | None] | None


def shape(pieces: list[str], stop: list[str] = [], check: Check = None, prefix: str = "") -> tuple[str, bool]:  # noqa: B006
    shaper = OutputShaper(stop, check, drop_prefix=prefix)
    out = "".join(shaper.feed(piece) for piece in pieces) + shaper.finish()
    return out, shaper.stopped


def reference(raw: str, stop: list[str], check: Check, prefix: str) -> str:
    """The reply for the whole raw text: prefill stripped, cut at the first stop string, then by the check."""
    if prefix and raw.startswith(prefix):
        raw = raw[len(prefix):]
    elif prefix and prefix.startswith(raw):
        raw = ""  # the model only repeated (part of) the prefill
    hits = [raw.find(s) for s in stop if s and s in raw]
    text = raw[: min(hits)] if hits else raw
    cut = check(text) if check else None
    return text if cut is None else text[:cut]


ALPHABET = "abXYZ\n"


def first(char: str) -> Callable[[str], int | None]:
    """A check that never changes its mind: cut before the first `char`."""
    return lambda text: text.find(char) if char in text else None


def at_length(n: int) -> Callable[[str], int | None]:
    """A check that never changes its mind: cut at `n` characters."""
    return lambda text: n if len(text) >= n else None


checks = st.one_of(st.none(), st.sampled_from(ALPHABET).map(first), st.integers(0, 12).map(at_length))


@st.composite
def split(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=8)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@st.composite
def raw_text(draw: st.DrawFn, stop: list[str]) -> str:
    """Text made of single characters and of stop strings and their beginnings (so stops do occur)."""
    parts = [s[:n] for s in stop for n in range(1, len(s) + 1)]
    return "".join(draw(st.lists(st.sampled_from([*ALPHABET, *parts]), max_size=12)))


@settings(max_examples=400)
@given(data=st.data(), stop=st.lists(st.text(ALPHABET, max_size=3), max_size=3), check=checks,
       prefix=st.sampled_from(["", "aX", "ab\nX"]))
def test_the_reply_does_not_depend_on_how_the_raw_text_was_split(data, stop, check, prefix):
    raw = data.draw(raw_text(stop))
    pieces = data.draw(split(raw))
    out, stopped = shape(pieces, stop, check, prefix)
    assert out == reference(raw, stop, check, prefix)
    assert not any(s and s in out for s in stop)  # a stop string never reaches the caller


@given(data=st.data(), raw=st.text(ALPHABET, max_size=30), stop=st.lists(st.text(ALPHABET, min_size=1, max_size=3),
                                                                          max_size=3))
def test_released_text_never_ends_in_what_may_start_a_stop_string(data, raw, stop):
    shaper = OutputShaper(stop)
    released = ""
    for piece in data.draw(split(raw)):
        released += shaper.feed(piece)
        if not shaper.stopped:
            pending = shaper.text[len(released):]
            assert len(pending) == held_back(shaper.text, stop)  # only a possible stop start is held


def test_a_stop_string_split_across_pieces_is_held_then_dropped():
    shaper = OutputShaper(["<END>"])
    assert shaper.feed("x = 1\n<E") == "x = 1\n"
    assert shaper.feed("N") == ""
    assert shaper.feed("D> more") == "" and shaper.stopped
    assert shaper.feed("ignored") == "" and shaper.finish() == ""


def test_held_text_that_is_not_a_stop_is_released_later_or_at_the_end():
    assert shape(["x <E", "ND?"], ["<END>"]) == ("x <END?", False)
    shaper = OutputShaper(["<END>"])
    assert shaper.feed("x <EN") == "x "
    assert shaper.finish() == "<EN" and not shaper.stopped


def test_stop_check_sees_only_text_certain_to_reach_the_caller():
    # The disagreement this module settled: the local engine passed stop_check the held-back tail too,
    # so here it saw "abXY", cut at the Y and returned "abX" although "XYZ" is a stop string; the
    # remote engine returned "ab". Now every engine returns "ab", however the pieces fall.
    seen: list[str] = []

    def before_y(text: str) -> int | None:
        seen.append(text)
        return first("Y")(text)

    assert shape(["abXY", "Z and more"], ["XYZ"], before_y) == ("ab", True)
    assert "abXY" not in seen
    assert shape(["abXYZ and more"], ["XYZ"], first("Y")) == ("ab", True)


def test_released_text_is_never_taken_back():
    shaper = OutputShaper([], lambda text: 0 if len(text) > 3 else None)
    assert shaper.feed("ab") == "ab"
    assert shaper.feed("cdef") == "" and shaper.stopped
    assert shaper.released_text == "ab"


def test_prefill_repeated_by_the_model_is_stripped():
    prefix = "```python\n"
    assert shape(["```py", "thon\nx = 1"], prefix=prefix) == ("x = 1", False)
    assert shape(["x = 1"], prefix=prefix) == ("x = 1", False)
    assert shape(["```"], prefix=prefix) == ("", False)  # only part of the prefill: nothing new
    assert shape(["```js\n"], prefix=prefix) == ("```js\n", False)  # not the prefill: kept
