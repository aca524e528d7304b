"""Greedy speculative decoding for one Gemma 4 sequence: prefill, draft, verify, accept.

The decode loop, at a glance (`Decoder.step`)::

    drafts = proposer(seq, k)                          # Gemma 4 assistant, prompt lookup, or nothing
    logits, hidden, kv = target([x_last, *drafts])     # one target forward verifies all of them
    greedy = argmax(logits)                            # (k+1,) the target's own choice at each position
    n = longest prefix where drafts[i] == greedy[i]
    seq += drafts[:n] + [greedy[n]]                    # n accepted drafts and the bonus token
    crop the k - n rejected drafts from the target cache

Cache discipline — the one place it is written down
---------------------------------------------------
A `Sequence` holds the verified tokens x[0..L-1]. Its target cache holds the KV of x[0..L-2]: every
verified token except the newest, which has not been through the target yet. `hidden` is the target's
final hidden state at position L-2 (the state that chose x[L-1]) and `shared_kv` the KV of the target's
last sliding and last full attention layer for positions 0..L-2: the two things the drafter reads.

A step feeds [x[L-1], d1..dk] to the target, so the cache grows by k+1. The n accepted drafts and the
bonus token join the sequence; the KV of the k-n rejected drafts is cropped away at once, leaving the
cache at L+n positions = every verified token but the (new) newest. Nothing but verified tokens ever
stays in a cache, so any prefix of a cache is exactly what plain greedy decoding computes for that
prefix — which is what lets the prefix cache hand a prompt's KV to a later request.

Every layer, the sliding-window ones included, keeps full-length KV (`DynamicCache()` without a config,
so all layers are `DynamicLayer`s): the window is enforced by the attention mask, which transformers
builds from positions, not by dropping old KV. A windowed cache (`DynamicCache(config=...)`, what
`generate` uses) throws away the KV older than the window, so it can neither be cropped back after a
rejection nor resumed from a shorter prompt prefix once past the window. The price is memory: a sliding
layer costs as much as a full one. `DynamicLayer.update` concatenates into new tensors and `crop`
slices, so tensors held by a cache are never written in place; a cache built from views of another
cache's tensors (`fork_cache`) is therefore an independent copy that costs no memory until it grows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

KV = tuple[torch.Tensor, torch.Tensor]  # (keys, values), each (batch=1, kv_heads, positions, head_dim)


@dataclass
class Sequence:
    """One generation's decoding state (see the cache discipline in the module docstring)."""

    tokens: list[int]  # x[0..L-1]: the prompt, then every verified generated token
    prompt_len: int
    cache: Any = None  # transformers DynamicCache with KV of tokens[:-1]
    hidden: torch.Tensor | None = None  # (1, 1, H) target hidden state at position L-2
    shared_kv: dict[str, KV] = field(default_factory=dict)  # drafter inputs, positions 0..L-2

    @property
    def generated(self) -> list[int]:
        return self.tokens[self.prompt_len :]

    @property
    def cached_len(self) -> int:
        return len(self.tokens) - 1

    def free(self) -> None:
        """Drop every tensor this sequence holds (cancelled or finished generations)."""
        self.cache = None
        self.hidden = None
        self.shared_kv = {}


@dataclass
class StepResult:
    new_tokens: list[int]  # accepted drafts followed by the target's bonus token
    drafted: int  # tokens proposed this step
    accepted: int  # of which the target agreed with


Proposer = Callable[[Sequence, int], list[int]]
"""Given a sequence and a budget k, propose up to k next tokens (may propose none)."""


def new_cache() -> Any:
    """An empty target cache with full-length KV on every layer (see the module docstring)."""
    from transformers import DynamicCache

    return DynamicCache()


def fork_cache(cache: Any, length: int) -> Any:
    """A new cache holding the first `length` positions of `cache`, sharing its tensors (no copy)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    fork = DynamicCache()
    for layer in cache.layers:
        copy = DynamicLayer()
        if layer.is_initialized and layer.keys is not None and layer.keys.numel():
            copy.lazy_initialization(layer.keys, layer.values)
            copy.keys = layer.keys[..., :length, :]
            copy.values = layer.values[..., :length, :]
        fork.layers.append(copy)
    return fork


def cache_bytes(cache: Any) -> int:
    """Bytes of KV a cache holds (views count their visible part)."""
    total = 0
    for layer in getattr(cache, "layers", []):
        if getattr(layer, "is_initialized", False) and layer.keys is not None:
            total += layer.keys.numel() * layer.keys.element_size()
            total += layer.values.numel() * layer.values.element_size()
    return total


class Decoder:
    """Runs the target (and optionally the Gemma 4 assistant drafter) for one sequence at a time.

    Stateless between calls: all per-generation state lives in `Sequence`, so a scheduler can interleave
    many sequences, each with its own cache, on one model.
    """

    def __init__(self, target: Any, drafter: Any | None = None) -> None:
        self.target = target
        self.drafter = drafter
        # The text decoder and the lm_head, for Gemma4ForCausalLM and the multimodal
        # Gemma4ForConditionalGeneration alike (real -it checkpoints load as the latter).
        self.body = target.get_decoder()
        self.lm_head = target.get_output_embeddings()
        self.embed = target.get_input_embeddings()
        # With an accelerate device map the layers span devices: inputs go where the embedding is.
        self.input_device = self.embed.weight.device
        config = target.config.get_text_config()
        self.softcap = getattr(config, "final_logit_softcapping", None)
        self.sliding_window = getattr(config, "sliding_window", None)
        self.max_positions = getattr(config, "max_position_embeddings", None)

    # -- target ------------------------------------------------------------------------------

    def _forward(self, seq: Sequence, ids: list[int], keep: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Run `ids` through the target after `seq.cache`; return logits and hidden of the last `keep`.

        Logits come from the same lm_head and soft-capping as `Gemma4ForCausalLM.forward`, computed for
        the kept positions only (a 2,000-token prefill must not build a 2,000 × 262K logit matrix).
        """
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.input_device)
        out = self.body(
            input_ids=input_ids, cache=seq.cache, use_cache=True, return_shared_kv_states=True,
            logits_to_keep=keep,
        )
        hidden = out.last_hidden_state[:, -keep:]  # (1, keep, H)
        logits = self.lm_head(hidden.to(self.lm_head.weight.device))  # (1, keep, V)
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        seq.shared_kv = dict(out.shared_kv_states or {})
        return logits, hidden

    @torch.inference_mode()
    def prefill(self, seq: Sequence, chunk: list[int], last: bool) -> int | None:
        """Feed the next prompt chunk to the target. On the last chunk return the first generated token.

        `seq.tokens` is the prompt and `seq.cache` covers a prefix of it; the caller passes the next
        uncached prompt tokens. After the last chunk the cache covers the whole prompt and the first
        token is appended to `seq.tokens`, establishing the cache discipline's invariant.
        """
        if seq.cache is None:
            seq.cache = new_cache()
        logits, hidden = self._forward(seq, chunk, keep=1)
        if not last:
            seq.shared_kv = {}
            return None
        first = int(logits[0, -1].argmax())
        seq.hidden = hidden[:, -1:]
        seq.tokens.append(first)
        return first

    @torch.inference_mode()
    def step(self, seq: Sequence, drafts: list[int]) -> StepResult:
        """Verify `drafts` after the newest token in one target forward; keep what greedy agrees with."""
        k = len(drafts)
        logits, hidden = self._forward(seq, [seq.tokens[-1], *drafts], keep=k + 1)
        greedy = logits[0].argmax(dim=-1).tolist()  # (k+1,)
        n = 0
        while n < k and drafts[n] == greedy[n]:
            n += 1
        new_tokens = [*drafts[:n], greedy[n]]
        if k - n:
            seq.cache.crop(-(k - n))  # rejected drafts leave the cache here, and nowhere else
        seq.tokens.extend(new_tokens)
        seq.hidden = hidden[:, n : n + 1]
        return StepResult(new_tokens=new_tokens, drafted=k, accepted=n)

    @torch.inference_mode()
    def score(self, seq: Sequence, ids: list[int]) -> torch.Tensor:
        """Logits (len(ids), V) of the target after each of `ids`, fed after `seq.cache` in one forward:
        how sure the model is at every position of a known continuation (engine/branching.py). The
        cache grows by `ids`; callers score on a fork they then drop."""
        if seq.cache is None:
            seq.cache = new_cache()
        logits, _ = self._forward(seq, ids, keep=len(ids))
        seq.shared_kv = {}
        return logits[0]

    # -- drafter -----------------------------------------------------------------------------

    def drafter_kv(self, seq: Sequence) -> dict[str, KV]:
        """The shared KV the drafter attends to: verified positions only, sliding layers windowed.

        The last forward may have run rejected drafts; their KV is still in `seq.shared_kv` (it was
        returned before the crop), so cut every layer type back to the cached length here. The assistant
        applies no window mask to its single query, so the window is the slice passed: the last
        `sliding_window` positions, as the target's own sliding layers see them. (transformers'
        `generate` passes what its windowed cache returned, which after a rejection still holds the
        rejected drafts; this only changes which drafts are proposed, never the output.)
        """
        end = seq.cached_len
        kv: dict[str, KV] = {}
        for kind, (keys, values) in seq.shared_kv.items():
            start = max(0, end - self.sliding_window) if kind == "sliding_attention" and self.sliding_window else 0
            kv[kind] = (keys[..., start:end, :], values[..., start:end, :])
        return kv

    def draft(self, seq: Sequence, k: int) -> list[int]:
        """Let the Gemma 4 assistant propose k tokens after the newest one (see `draft_with_confidence`)."""
        return self.draft_with_confidence(seq, k)[0]

    @torch.inference_mode()
    def draft_with_confidence(self, seq: Sequence, k: int, stop_below: float = 0.0) -> tuple[list[int], list[float]]:
        """Up to k greedy drafts from one position, and the drafter's max probability for each.

        The drafter has no cache of its own: every call reads the target's last hidden state and shared
        KV, drafts at the constant position of the newest token, and feeds its own projected hidden
        state back in for the next draft. Drafting stops early (early exit) before the first token whose
        max probability is under `stop_below`: that token and the rest are not proposed.
        """
        if self.drafter is None or k <= 0 or seq.hidden is None or not seq.shared_kv:
            return [], []
        kv = self.drafter_kv(seq)
        position = torch.tensor([[len(seq.tokens) - 1]], dtype=torch.long, device=self.input_device)
        token = torch.tensor([[seq.tokens[-1]]], dtype=torch.long, device=self.input_device)
        hidden = seq.hidden
        # Tokens and confidences stay on the device until the loop ends: one transfer per step, not
        # two host syncs per draft (on a GPU each sync stalls the queue). Only a gate that can cut
        # (stop_below > 0) needs each confidence on the host as it comes.
        tokens: list[torch.Tensor] = []
        confidences: list[torch.Tensor] = []
        for _ in range(k):
            embeds = torch.cat([self.embed(token).to(hidden.device), hidden], dim=-1)  # (1, 1, 2H)
            out = self.drafter(inputs_embeds=embeds, position_ids=position, shared_kv_states=kv, use_cache=False)
            logits = out.logits[0, -1].float()  # (V,)
            best, index = logits.max(dim=-1)  # the first maximal index, as argmax
            confidence = torch.exp(best - torch.logsumexp(logits, dim=-1))  # max softmax probability
            if stop_below > 0 and float(confidence) < stop_below:
                break
            token = index.view(1, 1).to(self.input_device)  # (1, 1)
            hidden = out.last_hidden_state
            tokens.append(index)
            confidences.append(confidence)
        if not tokens:
            return [], []
        drafts: list[int] = torch.stack(tokens).tolist()
        return drafts, torch.stack(confidences).tolist()


def greedy_reference(target: Any, prompt: list[int], max_new_tokens: int, eos: set[int] | None = None) -> list[int]:
    """Plain greedy decoding with the same forward as `Decoder` and no drafts (tests and benchmarks).

    The tokens match `target.generate(do_sample=False)`; this exists to time plain decoding through the
    very same code path as speculative decoding.
    """
    decoder = Decoder(target)
    seq = Sequence(tokens=list(prompt), prompt_len=len(prompt))
    decoder.prefill(seq, list(prompt), last=True)
    while len(seq.generated) < max_new_tokens and not (eos and seq.tokens[-1] in eos):
        decoder.step(seq, [])
    return seq.generated[:max_new_tokens]
