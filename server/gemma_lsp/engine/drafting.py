"""What to propose each step — drafter tokens, a continuation found in the prompt, or nothing — chosen by
a cost model measured on the machine the engine runs on.

Proposals only change speed, never output: the target verifies every proposed token (speculative.py).

The cost model
--------------
Costs are in units of one plain target step (a forward over one token), measured online (`StepCosts`):

    c_draft        one drafter step (one drafted token)
    c_verify(k)    one target forward over the newest token and k drafts; c_verify(0) = 1

Acceptance is per token, α = P(draft i is accepted | drafts 1..i-1 were), estimated for each proposal
source (drafter, prompt lookup) and request purpose (completion, explain/fix, debug) from what the
target verified (`Acceptance`); the estimates outlive requests, so each request starts from what the
previous ones of its purpose saw. A step that drafts k tokens yields the accepted prefix plus the
target's own bonus token,

    E[accepted + 1 | α, k] = 1 + α + α² + … + α^k,

so its speed relative to plain greedy decoding is

    S(k) = E[accepted + 1 | α, k] / (k · c_draft + c_verify(k)),        S(0) = 1,

and each step drafts k* = argmax over 0 ≤ k ≤ K of S(k) (`best_k`; prompt lookup has c_draft = 0 and
k at most the length of its match). k* = 0, a plain step, whenever no draft beats one. A source held
at k = 0 yields no evidence, so it drafts one token anyway every `probe_interval` plain steps, spaced
so that probing costs at most 1 % (a probe costs c_draft + c_verify(1) − 1 over a plain step; 4 to 64
steps apart), and again at once after an accepted probe: a cheap probe, so a source that got better is
noticed.

Costs are medians of recent measurements per k (robust to a neighbour's burst on a shared machine).
An unmeasured k is priced optimistically — on the chord between its measured neighbours, or as the
largest measured k beyond them — so the model tries it and learns its real price; a verify's cost is
concave in k on every machine we measured, so the chord is never above the truth.

Early exit (`ConfidenceGate`): while drafting, the drafter's own max probability for the next token is
free. The gate learns the acceptance per confidence bin and stops a draft before a token whose bin's
measured acceptance is below α_min, the acceptance under which a drafted token does not pay for itself
(S(1) < 1 at that α). It acts only on bins with enough evidence whose acceptance is that low, so a
drafter whose confidence says nothing about acceptance is never cut short.

`PromptLookup` finds the most recent earlier occurrence of the sequence's last n tokens (prompt and
output) and proposes what followed it there: edits and fixes copy long stretches of their prompt.
`DraftPolicy` applies all of this to one generation; the scheduler only asks it for the next proposal.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from .speculative import Decoder, Sequence

SOURCES = ("drafter", "lookup")
# Request purposes that share acceptance estimates ("explain" and "fix" both rewrite the code shown).
_PURPOSE_GROUPS = {"completion": "completion", "explain": "explain/fix", "fix": "explain/fix", "debug": "debug"}


# Prompt lookup proposes at most this many tokens a step, except for purposes whose output is a copy of
# a stretch of the prompt with few changes: a next edit rewrites a window of the file, whole lines at a
# time, so a long verified copy saves as many target steps as it has tokens.
LOOKUP_MAX = 8
LONG_LOOKUP_MAX = {"next_edit": 32}


def lookup_limit(purpose: str) -> int:
    """The longest prompt-lookup draft for a request of `purpose`."""
    return LONG_LOOKUP_MAX.get(purpose, LOOKUP_MAX)


def purpose_group(purpose: str) -> str:
    return _PURPOSE_GROUPS.get(purpose, purpose or "other")


def expected_tokens(alpha: float, k: int) -> float:
    """E[accepted + 1 | α, k] = 1 + α + … + α^k: tokens one step yields when drafting k."""
    return float(sum(alpha**i for i in range(k + 1)))


@dataclass
class StepCosts:
    """Measured step costs, shared by every generation on one model (they are the hardware's).

    A shared machine's load moves every step's time by tens of percent within seconds, so each
    measurement is turned into a ratio at once, over the plain-step time of that moment (the median of
    the last few plain steps), and the costs are medians of those ratios: comparing medians taken at
    different moments would mistake a change of load for a change of cost."""

    window: int = 15  # recent ratios kept per kind of step
    unit_window: int = 5  # recent plain steps that make "a plain step now"
    prior_draft: float = 0.15  # c_draft before any drafter step was timed
    prior_verify_slope: float = 0.1  # c_verify(k) = 1 + slope·k before a plain step was timed
    plain_every: int = 100  # steps between forced plain steps while drafting always pays
    min_plain: int = 3  # plain steps timed before the unit is trusted (one may be a cold or a loaded one)
    stale_after: int = 200  # steps after which a k's cost, not measured since, is forgotten
    _plain: deque[float] = field(default_factory=deque)  # seconds of recent plain steps
    _plain_count: int = 0
    _ratios: dict[int, deque[float]] = field(default_factory=dict)  # k -> recent c_verify(k) samples
    _median: dict[int, float] = field(default_factory=dict)  # k -> median of its samples (k = 0: 1)
    _draft: deque[float] = field(default_factory=deque)  # recent c_draft samples
    _since_plain: int = 0
    _step: int = 0
    _seen: dict[int, int] = field(default_factory=dict)  # k -> step of its latest measurement

    def _unit(self) -> float | None:
        return statistics.median(self._plain) if self._plain_count >= self.min_plain else None

    def record_verify(self, k: int, seconds: float) -> None:
        if k == 0:
            self._plain.append(seconds)
            while len(self._plain) > self.unit_window:
                self._plain.popleft()
            self._plain_count += 1
            self._since_plain = 0
            if self._plain_count >= self.min_plain:
                self._median[0] = 1.0
            return
        self._since_plain += 1
        self._step += 1
        unit = self._unit()
        if unit is None:
            return
        # A cost measured during a neighbour's burst would keep its k from ever being tried again:
        # an estimate not refreshed for `stale_after` steps is forgotten (and priced optimistically).
        for old in [m for m, at in self._seen.items() if self._step - at > self.stale_after]:
            self._ratios.pop(old, None)
            self._median.pop(old, None)
            del self._seen[old]
        self._seen[k] = self._step
        ratios = self._ratios.setdefault(k, deque(maxlen=self.window))
        ratios.append(seconds / unit)
        self._median[k] = statistics.median(ratios)

    def record_draft(self, tokens: int, seconds: float) -> None:
        unit = self._unit()
        if tokens > 0 and unit is not None:
            self._draft.append(seconds / tokens / unit)
            while len(self._draft) > self.window:
                self._draft.popleft()

    def needs_plain(self) -> bool:
        """A plain step is due: the unit every cost is measured in is unknown or old."""
        return self._plain_count < self.min_plain or self._since_plain >= self.plain_every

    @property
    def draft(self) -> float:
        """c_draft: one drafter step over one plain step."""
        return statistics.median(self._draft) if self._draft else self.prior_draft

    def verify(self, k: int) -> float:
        """c_verify(k): a forward over k drafts and the newest token, over a plain step.

        Never below c_verify(j) of a measured j < k: a forward over more tokens is not cheaper, and a
        noisy measurement must not make a wrong draft look free."""
        if k <= 0:
            return 1.0
        if 0 not in self._median:
            return 1.0 + self.prior_verify_slope * k
        floor = max([1.0, *(self._median[m] for m in self._median if 0 < m <= k)])
        if k in self._median:
            return floor
        below = max((m for m in self._median if m < k), default=0)
        above = min((m for m in self._median if m > k), default=None)
        if above is None:
            return floor  # flat beyond the largest measured k: optimistic, so it gets tried
        high = max(floor, self._median[above])
        low = max(1.0, self._median[below])
        return max(floor, low + (high - low) * (k - below) / (above - below))

    def measured(self) -> dict[str, object]:
        """The current estimates, for logs and the benchmark."""
        return dict(draft=round(self.draft, 3),
                    verify={k: round(self.verify(k), 3) for k in sorted(self._median)})


def best_k(alpha: float, costs: StepCosts, max_k: int, draft_cost: float | None = None) -> tuple[int, float]:
    """k* = argmax over 0 <= k <= max_k of S(k) (module docstring), and S(k*). Ties go to the smaller k."""
    c_draft = costs.draft if draft_cost is None else draft_cost
    best, best_speed = 0, 1.0
    tokens = 1.0
    for k in range(1, max_k + 1):
        tokens += alpha**k
        speed = tokens / (k * c_draft + costs.verify(k))
        if speed > best_speed * (1 + 1e-9):
            best, best_speed = k, speed
    return best, best_speed


def probe_interval(costs: StepCosts, budget: float = 0.01, bounds: tuple[int, int] = (4, 64)) -> int:
    """Plain steps between one-token probes of a source held at k = 0, so probing costs at most `budget`
    of the time: a probe costs c_draft + c_verify(1) - 1 plain steps more than the plain step it replaces."""
    extra = costs.draft + costs.verify(1) - 1.0
    return int(min(max(extra / budget, bounds[0]), bounds[1]))


def break_even_alpha(costs: StepCosts) -> float:
    """α_min: the acceptance at which one drafted token exactly pays for itself, S(1) = 1."""
    return max(0.0, min(1.0, costs.draft + costs.verify(1) - 1.0))


@dataclass
class Acceptance:
    """Per-token acceptance of one source for one purpose: decayed counts of verified drafts over a
    prior, and the probe schedule for when the source is not worth drafting from."""

    prior: float = 0.5
    prior_trials: float = 2.0  # how many tokens' worth of evidence the prior counts for
    decay: float = 0.97  # per judged token: old evidence fades within ~30 tokens, so a change is followed
    hits: float = 0.0
    trials: float = 0.0
    idle_steps: int = 0  # plain steps since this source last drafted
    _probe_again: bool = False  # the last draft was accepted whole: probe at the next plain step

    @property
    def rate(self) -> float:
        return (self.hits + self.prior * self.prior_trials) / (self.trials + self.prior_trials)

    def update(self, drafted: int, accepted: int) -> None:
        """Record a verified step: the first `accepted` of `drafted` tokens were kept."""
        if not drafted:
            return
        # Accepting a prefix of length n out of k is n successes and, if n < k, one failure; the
        # tokens after the first rejection were never judged.
        judged = accepted + (1 if accepted < drafted else 0)
        fade = self.decay**judged
        self.hits = self.hits * fade + accepted
        self.trials = self.trials * fade + judged
        self.idle_steps = 0
        self._probe_again = accepted == drafted

    def probe_due(self, interval: int) -> bool:
        """Count one plain step without this source; True when it should be probed with one token:
        every `interval` plain steps, and right after a probe that was accepted (successes chain, so
        a source that got better is back within a few steps of its first successful probe)."""
        self.idle_steps += 1
        again, self._probe_again = self._probe_again, False
        return again or self.idle_steps >= interval


@dataclass
class ConfidenceGate:
    """Early exit: acceptance per bin of the drafter's max probability, and the cut-off it implies."""

    edges: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.97)
    min_trials: float = 24.0  # evidence a bin needs before it may cut a draft
    decay: float = 0.995
    enabled: bool = True
    hits: list[float] = field(default_factory=list)
    trials: list[float] = field(default_factory=list)
    cut_tokens: int = 0  # drafts stopped early, for the logs and the benchmark

    def __post_init__(self) -> None:
        self.hits = self.hits or [0.0] * len(self.edges)
        self.trials = self.trials or [0.0] * len(self.edges)

    def bin(self, confidence: float) -> int:
        return max(i for i, edge in enumerate(self.edges) if confidence >= edge or i == 0)

    def record(self, confidences: list[float], accepted: int) -> None:
        """The drafts carried `confidences`; the first `accepted` were kept, the next one rejected."""
        judged = confidences[: accepted + 1]
        for i, confidence in enumerate(judged):
            b = self.bin(confidence)
            self.hits = [h * self.decay for h in self.hits]
            self.trials = [t * self.decay for t in self.trials]
            self.hits[b] += i < accepted
            self.trials[b] += 1

    def threshold(self, alpha_min: float) -> float:
        """The confidence under which a drafted token is not worth verifying (0: never cut).

        The cut-off is the top of the highest bin that, like every bin below it with evidence, has
        enough evidence and an acceptance under α_min — and only if some higher bin has enough evidence
        of an acceptance at or above α_min: confidence must separate good drafts from bad ones. A
        drafter that is simply poor is the cost model's business (k = 0), not the gate's."""
        cut, last = 0.0, -1
        for i in range(len(self.edges)):
            if self.trials[i] == 0:
                continue
            if self.trials[i] < self.min_trials or self.hits[i] / self.trials[i] >= alpha_min:
                break
            cut, last = (self.edges[i + 1] if i + 1 < len(self.edges) else 1.01), i
        separates = any(self.trials[j] >= self.min_trials and self.hits[j] / self.trials[j] >= alpha_min
                        for j in range(last + 1, len(self.edges)))
        return cut if self.enabled and separates else 0.0

    def table(self) -> list[dict[str, float]]:
        """Acceptance per confidence bin (the measurement of whether confidence predicts acceptance)."""
        return [dict(low=edge, trials=round(t, 1), acceptance=round(h / t, 3) if t else float("nan"))
                for edge, h, t in zip(self.edges, self.hits, self.trials, strict=True) if t]


@dataclass
class DraftStats:
    """Everything the cost model learns, kept by the scheduler across requests."""

    costs: StepCosts = field(default_factory=StepCosts)
    gate: ConfidenceGate = field(default_factory=ConfidenceGate)
    _acceptance: dict[tuple[str, str], Acceptance] = field(default_factory=dict)

    def acceptance(self, source: str, purpose: str) -> Acceptance:
        key = (source, purpose_group(purpose))
        if key not in self._acceptance:
            # Copied text is usually copied right; a drafter starts undecided.
            self._acceptance[key] = Acceptance(prior=0.6 if source == "lookup" else 0.5)
        return self._acceptance[key]


@dataclass
class DraftPolicy:
    """Chooses each step's proposal for one generation and learns from the verification.

    `fixed_k` (the user's setting with adaptive drafting off) drafts that many drafter tokens every
    step; otherwise the cost model chooses. Prompt lookup is always chosen by the cost model.
    """

    decoder: Decoder
    stats: DraftStats
    purpose: str = ""
    lookup: PromptLookup | None = None
    use_drafter: bool = True
    max_k: int = 8
    fixed_k: int | None = None
    lookup_max: int = LOOKUP_MAX
    source: str = "none"  # what the last proposal came from: "drafter", "lookup" or "none"
    probe: bool = False  # the last proposal was a probe
    confidences: list[float] = field(default_factory=list)  # the drafter's, for the last proposal

    def propose(self, seq: Sequence, budget: int) -> list[int]:
        """Draft tokens for the next step, at most `budget` (tokens left before the length limit)."""
        self.source, self.probe, self.confidences = "none", False, []
        if budget <= 0:
            return []
        costs = self.stats.costs
        drafter = self.use_drafter and self.decoder.drafter is not None
        drafter_rate = self.stats.acceptance("drafter", self.purpose)
        if self.fixed_k is not None:
            k, speed = min(self.fixed_k, budget), float("-inf")
        elif costs.needs_plain():
            return []
        else:
            k, speed = best_k(drafter_rate.rate, costs, min(self.max_k, budget)) if drafter else (0, 1.0)
        if self.lookup is not None:
            found = self.lookup.propose(seq.tokens, min(self.lookup_max, budget))
            lookup_rate = self.stats.acceptance("lookup", self.purpose)
            n, lookup_speed = best_k(lookup_rate.rate, costs, len(found), draft_cost=0.0) if found else (0, 1.0)
            if n and lookup_speed > max(speed, 1.0):
                self.source = "lookup"
                return found[:n]
        if drafter and k == 0 and drafter_rate.probe_due(probe_interval(costs)):
            k, self.probe = 1, True
        if k <= 0 or not drafter:
            return []
        self.source = "drafter"
        # Probes bypass the gate: they are how evidence about a changed drafter comes back.
        gated = self.fixed_k is None and not self.probe
        stop_below = self.stats.gate.threshold(break_even_alpha(costs)) if gated else 0.0
        drafts, self.confidences = self.decoder.draft_with_confidence(seq, k, stop_below)
        self.stats.gate.cut_tokens += len(drafts) < k
        if not drafts:
            self.source = "none"
        return drafts

    def update(self, drafted: int, accepted: int, draft_seconds: float = 0.0,
               verify_seconds: float | None = None) -> None:
        """Learn from the verified step: acceptance of its source, and (when timed) its costs."""
        if verify_seconds is not None:
            self.stats.costs.record_verify(drafted, verify_seconds)
        if self.source == "drafter":
            self.stats.acceptance("drafter", self.purpose).update(drafted, accepted)
            self.stats.costs.record_draft(len(self.confidences), draft_seconds)
            self.stats.gate.record(self.confidences, accepted)
        elif self.source == "lookup":
            self.stats.acceptance("lookup", self.purpose).update(drafted, accepted)


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
