"""The `tiny` model: a seeded random Gemma 4 target, its matching assistant drafter and a fixture
tokenizer, all built in code in about a second with no download.

It exercises every code path a real checkpoint does (the chat template with tools and thinking,
speculative decoding with the drafter, the tool-call tokens) and produces gibberish. It is for tests
and smoke runs; the server logs a warning whenever it is used.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemma_lsp.gemma4 import template
from gemma_lsp.gemma4.tokens import SPECIAL_TOKENS

TINY_VOCAB_SIZE = 512
TINY_SEED = 1234
# Gemma4TextConfig takes global_head_dim as an init argument only (it becomes the per-layer head_dim of the
# full-attention layers), so both configs read it from here.
TINY_GLOBAL_HEAD_DIM = 16

# A little code and prose to train the fixture tokenizer's merges on, so token counts of source text
# are in a realistic range (a few characters per token) rather than one token per byte.
_CORPUS = [
    "def main():\n    return 0\n",
    "import os\nimport sys\nfrom pathlib import Path\n",
    "class Parser:\n    def __init__(self, text: str) -> None:\n        self.text = text\n",
    "function add(a, b) {\n  return a + b;\n}\nconst x = add(1, 2);\n",
    "for (int i = 0; i < n; i++) {\n    total += values[i];\n}\n",
    "fn main() {\n    let mut v = Vec::new();\n    println!(\"{}\", v.len());\n}\n",
    "package main\n\nfunc main() {\n\tfmt.Println(\"hello\")\n}\n",
    "public static void main(String[] args) {\n    System.out.println(args.length);\n}\n",
    "The test failed because the function returns None instead of the expected value.\n",
    "Complete the code at the cursor. Reply with only the code to insert.\n",
    "    if value is None:\n        raise ValueError(\"missing value\")\n    return value\n",
    "assert result == expected, f\"got {result}\"\n",
]


@dataclass(frozen=True)
class TinyPair:
    target: Any
    drafter: Any
    tokenizer: Any


def chat_template(variant: str = template.E_VARIANT) -> str:
    """Gemma 4's chat format as a Jinja template (turns, tool declarations, calls, thinking): the tiny
    model is E2B-shaped, so it carries the E2B/E4B variant unless asked for the 26B/31B one."""
    return template.chat_template(variant)


# The drafter scores the vocabulary through token clusters as the E2B/E4B drafters do (2048 clusters of
# 128 tokens, 32 scored per step there): 16 clusters of 32 tokens, 4 scored per step here.
TINY_CENTROIDS = 16
TINY_CENTROID_TOP_K = 4


def text_config() -> Any:
    """The target's text model: E2B's shape family (per-layer embeddings, KV-shared last layers)."""
    from transformers import Gemma4TextConfig

    return Gemma4TextConfig(
        vocab_size=TINY_VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=5,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        global_head_dim=TINY_GLOBAL_HEAD_DIM,  # type: ignore[call-arg]  # init-only argument
        sliding_window=8,
        hidden_size_per_layer_input=8,
        vocab_size_per_layer_input=TINY_VOCAB_SIZE,
        # Two sliding + one full layer compute KV; the last two reuse it, with E2B's double-wide MLP.
        layer_types=["sliding_attention", "sliding_attention", "full_attention", "sliding_attention",
                     "full_attention"],
        num_kv_shared_layers=2,
        use_double_wide_mlp=True,
        final_logit_softcapping=30.0,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        max_position_embeddings=8192,
    )


def vision_config() -> Any:
    """A tiny vision tower: never run for text, but there, as in every released -it checkpoint."""
    from transformers.models.gemma4 import Gemma4VisionConfig

    return Gemma4VisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
        head_dim=8, patch_size=4, position_embedding_size=64, pooling_kernel_size=2,
    )


def target_config() -> Any:
    """The multimodal config a released -it checkpoint carries (`Gemma4Config`, model_type gemma4)."""
    from transformers import Gemma4Config

    return Gemma4Config(text_config=text_config(), vision_config=vision_config(), audio_config=None,
                        architectures=["Gemma4ForConditionalGeneration"])


def drafter_config(target_cfg: Any) -> Any:
    """An E2B-style drafter that pairs with `target_cfg` (same vocab, KV heads and head dims; ordered
    embeddings)."""
    from transformers import Gemma4AssistantConfig

    from gemma_lsp.models import shapes

    text = target_cfg.get_text_config()
    target = dict(vocab_size=text.vocab_size, num_key_value_heads=text.num_key_value_heads,
                  head_dim=text.head_dim, global_head_dim=TINY_GLOBAL_HEAD_DIM,
                  sliding_window=text.sliding_window, max_position_embeddings=text.max_position_embeddings)
    return Gemma4AssistantConfig(
        backbone_hidden_size=text.hidden_size,
        text_config=shapes.drafter_text_kwargs(
            target, dict(hidden_size=32, intermediate_size=64, num_attention_heads=2),
            ["sliding_attention", "full_attention"],
        ),
        use_ordered_embeddings=True,
        num_centroids=TINY_CENTROIDS,
        centroid_intermediate_top_k=TINY_CENTROID_TOP_K,
        architectures=["Gemma4AssistantForCausalLM"],
    )


@functools.lru_cache(maxsize=2)
def build_tokenizer(variant: str = template.E_VARIANT) -> Any:
    """A byte-level BPE tokenizer with Gemma 4's special tokens and the chat template of `variant`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
    )
    tokenizer.chat_template = chat_template(variant)
    return tokenizer


def build(seed: int = TINY_SEED) -> TinyPair:
    """Build the seeded random target, drafter and tokenizer (same weights for the same seed)."""
    import torch
    from transformers import Gemma4AssistantForCausalLM, Gemma4ForConditionalGeneration

    tokenizer = build_tokenizer()
    t_cfg = target_config()
    d_cfg = drafter_config(t_cfg)
    turn_end = tokenizer.convert_tokens_to_ids("<turn|>")
    tool_response = tokenizer.convert_tokens_to_ids("<|tool_response>")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        target = Gemma4ForConditionalGeneration(t_cfg).eval()
        drafter = Gemma4AssistantForCausalLM(d_cfg).eval()
        # The clusters' token lists: a permutation of the vocabulary (the model initialises it to zeros,
        # which would put every token in cluster 0).
        ordering = torch.randperm(TINY_VOCAB_SIZE)
        drafter.masked_embedding.token_ordering.copy_(ordering)
    # Generation ends at end of turn, and a turn that called tools stops where the response goes.
    target.generation_config.eos_token_id = [1, turn_end, tool_response]
    target.generation_config.pad_token_id = 0
    target.generation_config.bos_token_id = 2
    drafter.generation_config.num_assistant_tokens = 4
    drafter.generation_config.num_assistant_tokens_schedule = "constant"
    return TinyPair(target=target, drafter=drafter, tokenizer=tokenizer)


def save(folder: Path, seed: int = TINY_SEED, text_only: bool = False) -> tuple[Path, Path]:
    """Save the tiny pair as two checkpoint folders laid out like the released ones and return them.

    The target folder is a -it checkpoint: multimodal config and class, safetensors, tokenizer.json,
    tokenizer_config.json and a top-level chat_template.jinja; the drafter folder an -assistant one.
    `text_only` saves the target's text model alone (`Gemma4ForCausalLM`, what the loader builds from a
    multimodal checkpoint), for servers that would want an image processor for the multimodal class.
    """
    from transformers import Gemma4ForCausalLM

    pair = build(seed)
    target_dir = Path(folder) / ("gemma-4-tiny-text" if text_only else "gemma-4-tiny-it")
    drafter_dir = Path(folder) / "gemma-4-tiny-it-assistant"
    target = pair.target
    if text_only:
        target = Gemma4ForCausalLM(pair.target.config.get_text_config())
        target.model = pair.target.model.language_model
        target.lm_head = pair.target.lm_head
        target.generation_config = pair.target.generation_config
    target.save_pretrained(target_dir)
    pair.tokenizer.save_pretrained(target_dir)
    pair.drafter.save_pretrained(drafter_dir)
    pair.tokenizer.save_pretrained(drafter_dir)
    return target_dir, drafter_dir
