"""What to propose each step: how many drafter tokens, or a continuation looked up in the prompt.

Proposals only change speed, never output: the target verifies every proposed token (speculative.py).

- `AdaptiveDraftLength` picks k from the observed acceptance: grow after a fully accepted draft, shrink
  after a rejection, within [min, max]. When even one drafted token keeps being rejected it turns the
  drafter off (k = 0, plain greedy steps) and probes with one token every few steps, so a useless
  drafter costs a few percent instead of a drafter step plus a wider verify on every token.
- `PromptLookup` finds the most recent earlier occurrence of the sequence's last n tokens (prompt and
  output) and proposes what followed it there: edits and fixes copy long stretches of their prompt.
- `DraftPolicy` combines them per step: lookup when its continuation is expected to yield more accepted
  tokens than the drafter would (each has its own running acceptance rate), the drafter otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .speculative import Decoder, Sequence


@dataclass
class Acceptance:
    """A running estimate of the per-token acceptance rate of one source of drafts."""

    rate: float = 0.5
    weight: float = 0.3  # how fast new evidence replaces old

    def update(self, drafted: int, accepted: int) -> None:
        if drafted:
            # Per-token rate from "accepted a prefix of length `accepted` out of `drafted`": the chance
            # each token is accepted given the previous was.
            observed = accepted / (accepted + (1 if accepted < drafted else 0))
            self.rate += self.weight * (observed - self.rate)

    def expected_accepted(self, k: int) -> float:
        """Expected accepted prefix length of k proposed tokens: rate + rate^2 + ... + rate^k."""
        return sum(self.rate**i for i in range(1, k + 1))


@dataclass
class AdaptiveDraftLength:
    """Draft length schedule: +`grow` after full acceptance, shrink after a rejection, in [min_k, max_k].

    Below `min_k` there is one more state, off (k = 0): entered when a rejection happens at `min_k`
    while the running acceptance rate is under `off_below`; left when a one-token probe, drafted every
    `probe_every` plain steps (doubling after each failed probe), is accepted.
    """

    k: int = 4
    min_k: int = 1
    max_k: int = 8
    grow: int = 2
    adaptive: bool = True
    poor_below: float = 0.5  # running acceptance under which a fully rejected draft drops k to min_k
    off_below: float = 0.25  # ... and under which a rejection at min_k switches drafting off
    probe_every: int = 8
    max_probe_every: int = 64  # failed probes double the interval up to this
    rate: Acceptance = field(default_factory=lambda: Acceptance())
    _off_steps: int = 0
    _probe_every: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.min_k <= self.max_k:
            raise ValueError(f"draft length bounds must satisfy 1 <= min <= max, got {self.min_k}..{self.max_k}")
        if not 0 <= self.k <= self.max_k:
            raise ValueError(f"draft length {self.k} is outside 0..{self.max_k}")
        self._probe_every = self.probe_every

    def next_k(self) -> int:
        """Tokens to draft this step (0: a plain target step)."""
        if self.k > 0:
            return self.k
        self._off_steps += 1
        return 1 if self.adaptive and self._off_steps % self._probe_every == 0 else 0

    def update(self, drafted: int, accepted: int) -> None:
        """Record one verified step that drafted `drafted` tokens of which `accepted` were kept."""
        if drafted == 0:
            return
        self.rate.update(drafted, accepted)
        if not self.adaptive:
            return
        if self.k == 0:  # a probe while off
            if accepted == drafted:
                self.k, self._probe_every = self.min_k, self.probe_every
            else:
                self._probe_every = min(self._probe_every * 2, self.max_probe_every)
        elif accepted == drafted:
            self.k = min(self.max_k, max(self.k, drafted) + self.grow)
        elif self.k > self.min_k:
            # Shrink by one; straight to min_k when nothing was accepted and the running rate is poor
            # (a useless drafter should not cost several wide verifications before it is noticed).
            poor = accepted == 0 and self.rate.rate < self.poor_below
            self.k = self.min_k if poor else self.k - 1
        elif self.rate.rate < self.off_below:
            self.k, self._off_steps = 0, 0


class PromptLookup:
    """An index of the n-grams of one sequence: where each last occurred, updated as tokens arrive."""

    def __init__(self, ngram: int = 3, min_ngram: int = 2) -> None:
        self.ngram = ngram
        self.min_ngram = min_ngram
        self._last: dict[tuple[int, ...], int] = {}  # n-gram -> index just after its latest occurrence
        self._indexed = 0  # tokens[:_indexed] are in the index

    def _index(self, tokens: list[int]) -> None:
        # An n-gram ending at position i-1 is indexed once token i (its continuation) is known, so the
        # sequence's own final n-gram never matches itself.
        for end in range(max(self._indexed, self.min_ngram), len(tokens)):
            for n in range(self.min_ngram, self.ngram + 1):
                if end - n >= 0:
                    self._last[tuple(tokens[end - n : end])] = end
        self._indexed = max(self._indexed, len(tokens))

    def propose(self, tokens: list[int], k: int) -> list[int]:
        """Up to k tokens that followed the latest earlier occurrence of the longest matching suffix."""
        if k <= 0:
            return []
        self._index(tokens)
        for n in range(self.ngram, self.min_ngram - 1, -1):
            if len(tokens) < n:
                continue
            start = self._last.get(tuple(tokens[-n:]))
            if start is not None and start < len(tokens):
                return tokens[start : start + k]
        return []


@dataclass
class DraftPolicy:
    """Chooses each step's proposal for one generation and learns from the verification."""

    decoder: Decoder
    length: AdaptiveDraftLength
    lookup: PromptLookup | None = None
    lookup_max: int = 8
    lookup_min_gain: float = 0.5  # a lookup must be expected to add this many tokens to be worth verifying
    use_drafter: bool = True
    lookup_rate: Acceptance = field(default_factory=lambda: Acceptance(rate=0.6))
    source: str = "none"  # what the last proposal came from: "drafter", "lookup" or "none"

    def propose(self, seq: Sequence, budget: int) -> list[int]:
        """Draft tokens for the next step, at most `budget` (tokens left before the length limit)."""
        k = min(self.length.next_k() if self.use_drafter and self.decoder.drafter is not None else 0, budget)
        found = self.lookup.propose(seq.tokens, min(self.lookup_max, budget)) if self.lookup else []
        gain = self.lookup_rate.expected_accepted(len(found)) if found else 0.0
        if found and gain >= max(self.length.rate.expected_accepted(k), self.lookup_min_gain):
            self.source = "lookup"
            return found
        self.source = "drafter" if k > 0 else "none"
        return self.decoder.draft(seq, k) if k > 0 else []

    def update(self, drafted: int, accepted: int) -> None:
        if self.source == "lookup":
            self.lookup_rate.update(drafted, accepted)
        elif self.source == "drafter":
            self.length.update(drafted, accepted)
