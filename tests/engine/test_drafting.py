"""Draft proposals (engine/drafting.py): the cost model's decisions on synthetic costs and acceptances (no
timing anywhere), early exit, prompt lookup, and exactness.

Fixtures (conftest.py): `pair` the tiny Gemma 4 target + drafter, `reference` plain greedy output.
"""

from __future__ import annotations

import random

import pytest

from gemma_lsp.bench.rewrite import CopyingDecoder, rewrite_case
from gemma_lsp.engine.drafting import (
    LOOKUP_MAX,
    Acceptance,
    ConfidenceGate,
    DraftPolicy,
    DraftStats,
    PromptLookup,
    StepCosts,
    best_k,
    break_even_alpha,
    expected_tokens,
    lookup_limit,
    probe_interval,
)
from gemma_lsp.engine.scheduler import DecodeParams, Scheduler, SchedulerConfig
from gemma_lsp.engine.speculative import greedy_reference
from gemma_lsp.models.tiny import TINY_VOCAB_SIZE

from .engine_helpers import random_prompt


def test_lookup_proposes_what_followed_the_latest_match():
    lookup = PromptLookup(ngram=3, min_ngram=2)
    tokens = [5, 6, 7, 8, 9, 10, 1, 6, 7, 8, 20, 21, 6, 7]
    # Suffix [6, 7] last occurred before 8, 20, 21 (the latest occurrence wins over the earlier one).
    assert lookup.propose(tokens, 3) == [8, 20, 21]
    tokens += [8]  # suffix [6, 7, 8] -> continue from the latest [6, 7, 8]
    assert lookup.propose(tokens, 2) == [20, 21]
    assert lookup.propose([1, 2, 3], 4) == []
    assert lookup.propose(tokens, 0) == []


def test_lookup_drafting_is_exact_and_accepts_copied_text(pair):
    """Prompts that repeat a stretch followed by its own greedy continuation: lookup proposes copies."""
    sched = Scheduler(pair.target, pair.drafter, pair.tokenizer,
                      SchedulerConfig(use_drafter=False, kv_cache_budget_bytes=0))
    # Costs as on a GPU, where verifying a copy costs about a plain step (the tiny model on this CPU
    # measures a verify of 1 draft at 2x a plain step: the cost model would rightly not look up much).
    sched.drafting = DraftStats(costs=FrozenCosts(flat_costs()))
    rng = random.Random(0)
    accepted = drafted = 0
    try:
        for _ in range(10):
            head = random_prompt(rng, rng.randrange(5, 40))
            prompt = head + greedy_reference(pair.target, head, 40) + head[1:]
            result = sched.submit(prompt, DecodeParams(max_new_tokens=40)).wait(60)
            assert result.token_ids == greedy_reference(pair.target, prompt, 40)
            accepted += result.stats.accepted_tokens
            drafted += result.stats.drafted_tokens
    finally:
        sched.close()
    assert drafted > 0 and accepted > 0


def cpu_costs(draft: float = 0.14) -> StepCosts:
    """Costs as measured on the 2-core CPU benchmark machine, fed in as synthetic seconds."""
    costs = StepCosts()
    for k in [0, 0, 0, *range(1, 9)]:
        costs.record_verify(k, _verify_cost(k))
    costs.record_draft(1, draft)  # seconds, with a plain step taking 1 s
    return costs


class FrozenCosts(StepCosts):
    """Synthetic costs that measurements do not move."""

    def __init__(self, costs: StepCosts) -> None:
        super().__init__(_plain=costs._plain, _plain_count=costs._plain_count, _ratios=costs._ratios,
                         _median=costs._median, _draft=costs._draft)

    def record_verify(self, k: int, seconds: float) -> None:
        pass

    def record_draft(self, tokens: int, seconds: float) -> None:
        pass


def flat_costs(draft: float = 0.05) -> StepCosts:
    """GPU-like: verifying up to 8 drafts costs about one plain step."""
    costs = StepCosts()
    for k in [0, 0, 0, *range(1, 9)]:
        costs.record_verify(k, 1.0 + 0.01 * k)
    costs.record_draft(1, draft)
    return costs


def _verify_cost(k: int) -> float:
    """Verify cost in plain steps as measured on the CPU benchmark machine (1.82 at k=4, 2.06 at k=8)."""
    return 1 + 0.205 * k if k <= 4 else 1.82 + 0.06 * (k - 4)


def _brute_force(alpha: float, costs: StepCosts, max_k: int) -> int:
    speeds = [expected_tokens(alpha, k) / (k * costs.draft + costs.verify(k)) for k in range(max_k + 1)]
    return max(range(max_k + 1), key=lambda k: (speeds[k], -k))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("make_costs", [cpu_costs, flat_costs])
def test_best_k_maximises_expected_tokens_per_cost(alpha, make_costs):
    costs = make_costs()
    k, speed = best_k(alpha, costs, 8)
    assert k == _brute_force(alpha, costs, 8)
    assert speed == pytest.approx(expected_tokens(alpha, k) / (k * costs.draft + costs.verify(k)))


def test_plain_step_when_no_draft_pays_and_long_drafts_when_verifying_is_free():
    assert best_k(0.0, cpu_costs(), 8) == (0, 1.0)
    assert best_k(0.3, cpu_costs(), 8)[0] == 0  # a verify costs more than what 0.3 of a token buys here
    assert best_k(0.5, flat_costs(), 8)[0] >= 2  # ... but on a GPU it does not
    assert best_k(1.0, cpu_costs(), 8)[0] == 8
    assert best_k(1.0, cpu_costs(), 3)[0] == 3  # the budget bounds it
    assert 0.3 < break_even_alpha(cpu_costs()) < 0.5


def test_costs_are_relative_to_a_plain_step_and_unmeasured_lengths_are_priced_optimistically():
    costs = StepCosts()
    assert costs.needs_plain()
    assert costs.verify(4) == pytest.approx(1.4)  # the prior
    for _ in range(3):  # the unit is trusted after three plain steps
        assert costs.needs_plain()
        costs.record_verify(0, 0.010)
    costs.record_verify(4, 0.018)
    costs.record_draft(2, 0.004)
    assert not costs.needs_plain()
    assert costs.draft == pytest.approx(0.2)
    assert costs.verify(4) == pytest.approx(1.8)
    assert costs.verify(2) == pytest.approx(1.4)  # on the chord
    assert costs.verify(8) == pytest.approx(1.8)  # flat beyond the largest measured k
    for _ in range(10):
        costs.record_verify(4, 0.018)
    costs.record_verify(4, 1.0)  # one step during a neighbour's burst barely moves the median
    assert costs.verify(4) == pytest.approx(1.8)


def test_a_plain_step_is_forced_when_the_unit_is_old():
    costs = StepCosts(plain_every=5)
    costs.record_verify(0, 1.0)
    for _ in range(5):
        costs.record_verify(4, 1.5)
    assert costs.needs_plain()


def test_a_change_of_load_is_not_taken_for_a_change_of_cost():
    """The machine gets twice as slow halfway: every step, plain or not, takes twice as long. Ratios to
    the plain steps of the same moment keep c_verify(4) at 1.8 (medians of raw seconds would not)."""
    costs = StepCosts()
    for slow in (1.0, 2.0):
        for _ in range(6):
            costs.record_verify(0, 0.010 * slow)
            costs.record_verify(4, 0.018 * slow)
            costs.record_verify(4, 0.018 * slow)
    assert costs.verify(4) == pytest.approx(1.8)


def test_a_cost_not_measured_for_long_is_forgotten_so_its_length_is_tried_again():
    costs = StepCosts(stale_after=50)
    for _ in range(3):
        costs.record_verify(0, 1.0)
    costs.record_verify(4, 5.0)  # measured once, during a burst
    costs.record_verify(2, 1.2)
    assert costs.verify(4) == pytest.approx(5.0)
    assert best_k(0.95, costs, 8)[0] <= 3  # too dear to try again...
    for _ in range(60):
        costs.record_verify(2, 1.2)
    assert costs.verify(4) == pytest.approx(1.2)  # ... until it is forgotten: flat beyond k = 2
    assert best_k(0.95, costs, 8)[0] == 8


def test_acceptance_follows_a_change():
    rate = Acceptance()
    for _ in range(30):
        rate.update(4, 4)
    assert rate.rate > 0.95
    for _ in range(60):  # ~30 judged tokens of memory: a change shows within tens of steps
        rate.update(4, 0)
    assert rate.rate < 0.25


def test_probes_are_spaced_to_cost_one_percent():
    assert probe_interval(cpu_costs()) == 34  # a probe costs 0.14 + 1.205 - 1 = 0.345 plain steps more
    assert probe_interval(flat_costs()) == 6
    assert probe_interval(flat_costs(draft=0.0)) == 4  # at least every 4 steps ...
    assert probe_interval(cpu_costs(draft=2.0)) == 64  # ... and at most every 64
    rate = Acceptance()
    assert [rate.probe_due(3) for _ in range(3)] == [False, False, True]
    rate.update(1, 0)
    assert [rate.probe_due(3) for _ in range(3)] == [False, False, True]
    rate.update(1, 1)  # an accepted probe: probe again at once
    assert rate.probe_due(3)
    rate.update(1, 0)  # ... until one fails
    assert [rate.probe_due(3) for _ in range(3)] == [False, False, True]


class FakeDecoder:
    """Proposes k placeholder drafts with a given confidence (the policy never looks at the tokens)."""

    drafter = object()

    def __init__(self, confidence=lambda i: 0.5):
        self.confidence = confidence
        self.calls = 0

    def draft_with_confidence(self, seq, k, stop_below=0.0):
        drafts, confidences = [], []
        for i in range(k):
            c = self.confidence(self.calls * 100 + i)
            if c < stop_below:
                break
            drafts.append(0)
            confidences.append(c)
        self.calls += 1
        return drafts, confidences


class _Seq:
    tokens = [2, 3, 4]


def simulate(policy: DraftPolicy, alphas, verify_cost=_verify_cost, draft_cost=0.14, seed=0,
             accept=None) -> tuple[float, list[int]]:
    """Runs the policy against simulated drafts (accepted with the step's alpha) and synthetic step
    costs; returns tokens per plain-step cost and the draft length of every step."""
    rng = random.Random(seed)
    tokens = cost = 0.0
    ks = []
    for alpha in alphas:
        drafts = policy.propose(_Seq(), 64)
        k = len(drafts)
        accepted = 0
        while accepted < k and (accept(policy.confidences[accepted]) if accept else rng.random() < alpha):
            accepted += 1
        tokens += accepted + 1
        step_cost = (k * draft_cost if policy.source == "drafter" else 0.0) + verify_cost(k)
        cost += step_cost
        policy.update(k, accepted, draft_seconds=k * draft_cost if policy.source == "drafter" else 0.0,
                      verify_seconds=verify_cost(k))
        ks.append(k)
    return tokens / cost, ks


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.8, 0.95, 1.0])
@pytest.mark.parametrize("verify_cost", [_verify_cost, lambda k: 1.0 + 0.01 * k], ids=["cpu", "gpu"])
def test_the_cost_model_reaches_the_best_fixed_length(alpha, verify_cost):
    """Simulated drafts accepted with probability alpha and synthetic costs: no timing involved. The
    measure is the one the benchmark reports, against the best fixed k with k = 0 included."""
    best = max(expected_tokens(alpha, k) / (k * 0.14 + verify_cost(k)) for k in range(0, 9))
    stats = DraftStats()
    simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats), [alpha] * 300, verify_cost)  # an earlier request
    speed, _ = simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats), [alpha] * 3000, verify_cost, seed=1)
    assert speed >= 0.95 * best


def test_a_drafter_that_got_better_is_noticed_by_the_probe():
    stats = DraftStats()
    _, ks = simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats), [0.0] * 400 + [0.95] * 150)
    assert sum(ks[300:400]) <= 5  # off, apart from a probe or two
    # back on, drafting long, within 100 steps of the change (a forced plain step may renew the unit)
    assert sum(k >= 4 for k in ks[-50:]) >= 48


def test_acceptance_is_learned_per_purpose_and_carried_to_the_next_request():
    stats = DraftStats()
    simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats, purpose="completion"), [0.0] * 100)
    simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats, purpose="fix"), [1.0] * 100)
    assert stats.acceptance("drafter", "completion").rate < 0.25
    assert stats.acceptance("drafter", "explain").rate > 0.9  # explain and fix share their estimate
    _, ks = simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats, purpose="completion"), [0.0] * 5)
    assert ks == [0] * 5  # the next completion starts off: it does not relearn
    _, ks = simulate(DraftPolicy(decoder=FakeDecoder(), stats=stats, purpose="fix"), [1.0] * 5)
    assert min(ks) == 8


def test_fixed_length_when_not_adaptive():
    _, ks = simulate(DraftPolicy(decoder=FakeDecoder(), stats=DraftStats(), fixed_k=5), [0.0] * 20)
    assert ks == [5] * 20


def test_early_exit_cuts_drafts_where_low_confidence_predicts_rejection():
    """Drafts with confidence 0.05 are never accepted, those with 0.95 always: the gate learns to stop
    before a low-confidence token, and the cost per token improves over drafting without the gate."""
    confidence = lambda i: 0.05 if random.Random(i).random() < 0.3 else 0.95  # noqa: E731
    speeds = {}
    for enabled in (True, False):
        stats = DraftStats(gate=ConfidenceGate(enabled=enabled))
        policy = DraftPolicy(decoder=FakeDecoder(confidence), stats=stats)
        speeds[enabled], _ = simulate(policy, [0.7] * 2000, accept=lambda c: c > 0.5)
    assert stats.gate.table()[0]["acceptance"] == 0.0
    assert speeds[True] > 1.05 * speeds[False]


def test_early_exit_never_cuts_when_confidence_says_nothing():
    stats = DraftStats()
    rng = random.Random(3)
    policy = DraftPolicy(decoder=FakeDecoder(lambda i: random.Random(i).random()), stats=stats)
    simulate(policy, [0.8] * 2000, accept=lambda c: rng.random() < 0.8)
    assert stats.gate.threshold(break_even_alpha(stats.costs)) == 0.0
    assert stats.gate.cut_tokens == 0


def test_early_exit_keeps_output_exact(pair, reference):
    """A real drafter stopped early at every confidence level: the output is still plain greedy."""
    from gemma_lsp.engine.speculative import Decoder, Sequence

    decoder = Decoder(pair.target, pair.drafter)
    prompt = random_prompt(random.Random(4), 30)
    for stop_below in (0.0, 0.001, 0.01, 1.01):
        seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
        decoder.prefill(seq, prompt, last=True)
        while len(seq.generated) < 24:
            drafts, confidences = decoder.draft_with_confidence(seq, 4, stop_below)
            assert len(drafts) == len(confidences) and all(c >= stop_below for c in confidences)
            decoder.step(seq, drafts[: 24 - len(seq.generated) - 1])
        assert seq.generated[:24] == reference(prompt, 24)


def test_a_next_edit_copies_whole_lines_a_step_with_long_lookup_drafts(pair):
    """A rewrite copies long stretches of its prompt: lookup may propose up to 32 tokens a step for
    purpose next_edit (8 for others). The target is made to copy a window of the prompt with one change
    (the benchmark's CopyingDecoder); the output is exactly that, in fewer steps with long drafts."""
    prompt, output = rewrite_case(random.Random(1), TINY_VOCAB_SIZE, window=64, around=16)
    steps = {}
    for purpose in ("completion", "next_edit"):
        decoder = CopyingDecoder(pair.target)
        decoder.truth = prompt + output
        sched = Scheduler(pair.target, None, pair.tokenizer,
                          SchedulerConfig(use_drafter=False, kv_cache_budget_bytes=0), decoder=decoder)
        sched.drafting = DraftStats(costs=FrozenCosts(flat_costs()))
        try:
            result = sched.submit(prompt, DecodeParams(max_new_tokens=len(output), purpose=purpose)).wait(60)
        finally:
            sched.close()
        assert result.token_ids == output
        steps[purpose] = result.stats.target_steps
    assert lookup_limit("next_edit") == 32 and lookup_limit("completion") == LOOKUP_MAX == 8
    assert steps["next_edit"] < steps["completion"] < len(output) - 1
