"""The chat template and the one way every engine turns messages into a prompt.

`chat_template.jinja` is gemma-lsp's own template, written from Gemma 4's documented format (see
../shared/facts.md in the repository's design notes): for every message shape the project sends it
renders what Google's canonical template (2026-07-09) renders, byte for byte, in both variants:

- E2B/E4B (`E_VARIANT`): the generation prompt is `<|turn>model\\n`.
- 26B/31B (`BIG_VARIANT`): with thinking off the generation prompt is `<|turn>model\\n` followed by
  an empty thought, `<|channel>thought\\n<channel|>`.

The fixture tokenizer (`tiny`) carries the E variant. A real checkpoint carries Google's own template,
which `render_with` uses; the remote engine without a tokenizer renders its estimates here with the
variant of the served model (`variant_for`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from gemma_lsp.gemma4.tokens import BOS

Message = dict[str, Any]

E_VARIANT = "e2b"  # E2B and E4B
BIG_VARIANT = "31b"  # 26B-A4B and 31B
VARIANTS = (E_VARIANT, BIG_VARIANT)

_SWITCH = "{%- set empty_thought_when_not_thinking = false -%}"
_BIG_MODEL = re.compile(r"(?<![0-9])(?:26|31)b", re.IGNORECASE)


def chat_template(variant: str = E_VARIANT) -> str:
    """The template text of `variant` (a tokenizer's `chat_template`)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown Gemma 4 template variant {variant!r}; expected one of {VARIANTS}")
    text = _template_text()
    if variant == BIG_VARIANT:
        text = text.replace(_SWITCH, _SWITCH.replace("false", "true"), 1)
    return text


def variant_for(model_name: str | None) -> str:
    """The template variant a model needs, from its name or path: 26B/31B names (`gemma-4-31B-it`,
    `google/gemma-4-26B-A4B-it`, the `31b` preset) get the big variant, everything else the E one."""
    return BIG_VARIANT if model_name and _BIG_MODEL.search(model_name) else E_VARIANT


def render(messages: Sequence[Message], tools: Sequence[dict[str, Any]] | None = None, *,
           thinking: bool = False, variant: str = E_VARIANT, add_generation_prompt: bool = True) -> str:
    """The prompt text for `messages` through gemma-lsp's template, compiled the way transformers
    compiles chat templates (sandboxed, trim_blocks, lstrip_blocks), so it equals what a tokenizer
    carrying `chat_template(variant)` renders."""
    return _compiled(variant).render(
        messages=list(messages), tools=list(tools) if tools else None, enable_thinking=thinking,
        add_generation_prompt=add_generation_prompt, bos_token=BOS)


def render_with(tokenizer: Any, messages: Sequence[Message], tools: Sequence[dict[str, Any]] | None = None,
                thinking: bool = False) -> str:
    """The prompt through a tokenizer's own chat template (a real checkpoint's, or the fixture's)."""
    return tokenizer.apply_chat_template(
        list(messages), tools=list(tools) if tools else None, tokenize=False,
        add_generation_prompt=True, enable_thinking=thinking)


def generation_opens_thought(messages: Sequence[Message], thinking: bool) -> bool:
    """Whether the generation prompt ends inside an open thought (`<|channel>thought\\n`): with thinking
    on, after tool results. The model's reply then starts mid-thought and closes it with `<channel|>`."""
    return thinking and bool(messages) and messages[-1].get("role") == "tool"


@functools.cache
def _template_text() -> str:
    text = resources.files("gemma_lsp.gemma4").joinpath("chat_template.jinja").read_text("utf-8")
    if _SWITCH not in text:
        raise RuntimeError("chat_template.jinja lost its variant switch line")
    return text


@functools.cache
def _compiled(variant: str) -> Any:
    from jinja2.exceptions import TemplateError
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env.from_string(chat_template(variant))
