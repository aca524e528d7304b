"""The engines' output contract, in one place: from the model's raw text to what the caller receives.

Every engine produces raw text: what the model generated and verified, after the request's prefill, up
to the end of its turn or its length limit. `OutputShaper` turns it, piece by piece as it streams, into
the caller's text; the rules are the same for every engine:

- Prefill stripping (`drop_prefix`, only for servers that cannot continue a prefilled reply): a reply
  that starts by repeating the prefill loses it, since the caller treats the prefill as written.
- Stop strings: the text ends before the first occurrence of any of them; a stop string never reaches
  the caller, even split across pieces.
- Hold-back: a tail that could still grow into a stop string is held until it cannot (or the reply
  ends), so nothing released ever has to be taken back.
- `stop_check` sees the text that is certain to reach the caller: up to the first stop string, without
  a held-back tail (which may yet turn out to start a stop string). It may cut that text; what was
  already released stays released. So for a check that never changes its mind (once it cuts at i, it
  cuts at i for any longer text) the reply does not depend on how the raw text was split into pieces,
  and every engine gives the same reply for the same raw text (tests/engine/test_output.py).

Pure: no torch, no threads, no I/O; the engine decides what "stop" means for the model (free a job,
close an HTTP response).
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import StopCheck


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that is a proper prefix of one of `stops`."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


class OutputShaper:
    """Applies stop strings, hold-back, `stop_check` and prefill stripping to one reply as it streams.

    `feed(piece)` takes raw text and returns what the caller may have now; `finish()` says the raw text
    is complete and returns what was held back. Once `stopped` is True (a stop string or `stop_check`
    cut the reply) the rest of the raw text is ignored: the engine should stop the model.
    """

    def __init__(self, stop: Sequence[str] = (), stop_check: StopCheck | None = None,
                 drop_prefix: str = "") -> None:
        self.stop = tuple(s for s in stop if s)
        self.stop_check = stop_check
        self._prefix = drop_prefix
        self.text = ""  # the reply so far (after a stripped prefix), cut where it stopped
        self.released = 0  # text[:released] was given to the caller
        self.stopped = False
        self._searched = 0  # no stop string starts before this index

    @property
    def released_text(self) -> str:
        return self.text[: self.released]

    def feed(self, piece: str) -> str:
        """Add raw text; return the text the caller may have now ("" after a stop)."""
        if self.stopped or not piece:
            return ""
        self.text += piece
        if self._prefix:
            if len(self.text) < len(self._prefix) and self._prefix.startswith(self.text):
                return ""  # may still be the prefill repeated: wait
            if self.text.startswith(self._prefix):
                self.text = self.text[len(self._prefix):]
            self._prefix = ""
        return self._release(final=False)

    def finish(self) -> str:
        """The raw text is complete: release what was held back (still subject to `stop_check`)."""
        if self.stopped:
            return ""
        if self._prefix:  # the whole reply was the start of the prefill: nothing new was written
            self.text, self._prefix = "", ""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        cut = self._first_stop()
        if cut is not None:
            self.stopped = True
        elif final:
            cut = len(self.text)
        else:
            cut = max(self.released, len(self.text) - held_back(self.text, self.stop))
        if self.stop_check is not None and cut > self.released:
            checked = self.stop_check(self.text[:cut])
            if checked is not None:
                cut, self.stopped = max(self.released, min(checked, cut)), True
        if self.stopped:
            self.text = self.text[:cut]
        out = self.text[self.released:cut]
        self.released = cut
        return out

    def _first_stop(self) -> int | None:
        """Index of the first stop string in the text, or None."""
        hits = [i for i in (self.text.find(s, max(0, self._searched - len(s) + 1)) for s in self.stop) if i >= 0]
        self._searched = len(self.text)
        return min(hits) if hits else None


def shape_whole(text: str, stop: Sequence[str] = (), stop_check: StopCheck | None = None) -> OutputShaper:
    """The shaper after `text` as the whole raw reply: its `text` is the caller's, `stopped` whether a
    stop string or `stop_check` cut it. For engines that decode a reply at once (engine/branching.py)."""
    shaper = OutputShaper(stop, stop_check)
    shaper.feed(text)
    shaper.finish()
    return shaper
