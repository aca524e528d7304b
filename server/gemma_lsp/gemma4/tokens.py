"""Gemma 4's special tokens, as spelled in the released vocabulary and chat template."""

from __future__ import annotations

import math

PAD, EOS, BOS, UNK = "<pad>", "<eos>", "<bos>", "<unk>"
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2  # the released vocabulary's ids (facts.md)

TURN_OPEN, TURN_CLOSE = "<|turn>", "<turn|>"  # <|turn>ROLE\n ... <turn|>\n
TOOL_OPEN, TOOL_CLOSE = "<|tool>", "<tool|>"  # a tool declaration in the system turn
CALL_OPEN, CALL_CLOSE = "<|tool_call>", "<tool_call|>"
RESPONSE_OPEN, RESPONSE_CLOSE = "<|tool_response>", "<tool_response|>"
STRING_DELIM = '<|"|>'  # opens and closes every string value
THINK = "<|think|>"  # switches thinking on, at the top of the system turn
CHANNEL_OPEN, CHANNEL_CLOSE = "<|channel>", "<channel|>"
THOUGHT_OPEN = CHANNEL_OPEN + "thought\n"  # the reasoning channel, as the model and the template write it
EMPTY_THOUGHT = THOUGHT_OPEN + CHANNEL_CLOSE  # 26B/31B: the generation prompt with thinking off ends so

# Generation stops at the end of a turn, where a tool's response would go after the model's calls (the
# response is ours to write), and at end of sequence.
STOP_TOKENS = (TURN_CLOSE, RESPONSE_OPEN, EOS)

# The fixture tokenizer's special tokens, in vocabulary order (pad/eos/bos first, as released).
SPECIAL_TOKENS = [
    PAD, EOS, BOS, UNK,
    TURN_OPEN, TURN_CLOSE,
    TOOL_OPEN, TOOL_CLOSE,
    CALL_OPEN, CALL_CLOSE,
    RESPONSE_OPEN, RESPONSE_CLOSE,
    STRING_DELIM,
    THINK,
    CHANNEL_OPEN, CHANNEL_CLOSE,
]

# Without the tokenizer (before the model loads, or a remote server that has none), token counts are
# estimated: Gemma's tokenizer averages about 3.5 characters per token on source code.
CHARS_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """About how many tokens `text` takes (see CHARS_PER_TOKEN)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)
