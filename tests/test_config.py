"""Settings.from_lsp: what editors send, checked against config.SCHEMA (the one definition)."""

from __future__ import annotations

import dataclasses

import pytest

from gemma_lsp.config import SCHEMA, Settings, check


def _leaf_fields(obj: object, prefix: str = "") -> list[str]:
    out: list[str] = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        out += _leaf_fields(value, f"{prefix}{f.name}.") if dataclasses.is_dataclass(value) else [prefix + f.name]
    return out


def test_every_settings_field_is_in_the_schema_except_the_command_line_only_ones():
    in_schema = {s.attr for s in SCHEMA}
    assert set(_leaf_fields(Settings())) - in_schema == {"script", "sandbox.allow_unsandboxed"}


def test_schema_defaults_are_the_dataclass_defaults():
    settings = Settings()
    for setting in SCHEMA:
        value: object = settings
        for part in setting.attr.split("."):
            value = getattr(value, part)
        assert setting.default == value, setting.key


def test_valid_values_apply_nested_and_snake_case_keys_too():
    settings, problems = Settings.from_lsp({"gemma": {"draftTokens": 8, "remote": {"timeoutSeconds": 2.5},
                                                      "debug": {"max_tool_calls": 3}, "tests": {"command": ["make"]}}})
    assert problems == []
    assert (settings.draft_tokens, settings.remote.timeout_seconds, settings.debug.max_tool_calls,
            settings.tests.command) == (8, 2.5, 3, ["make"])


def test_bad_values_keep_the_previous_value_and_say_why():
    base, _ = Settings.from_lsp({"draftTokens": 6})
    settings, problems = Settings.from_lsp({"draftTokens": 0, "dtype": "int3", "nonsense": True, "debug": 5,
                                            "device": "gpu", "drafter": "yes", "remote": {"url": ""},
                                            "sandbox": {"memoryMb": 1.5}}, base)
    assert settings == base
    assert problems == [
        "gemma.draftTokens: must be between 1 and 16; keeping 6",
        "gemma.dtype: must be one of auto, float32, bfloat16, float16; keeping 'auto'",
        "gemma.nonsense: unknown setting (ignored)",
        "gemma.debug: must be an object",
        "gemma.device: must be auto, cpu, cuda, cuda:N or mps; keeping 'auto'",
        "gemma.drafter: must be true or false; keeping True",
        "gemma.remote.url: must be a non-empty string; keeping 'http://127.0.0.1:8000/v1'",
        "gemma.sandbox.memoryMb: must be an integer; keeping 2048",
    ]


@pytest.mark.parametrize("options", [{"script": "x.json"}, {"sandbox": {"allowUnsandboxed": True}},
                                     {"debug.maxToolCalls": 3}, {"promptBudgetTokens": 1000}])
def test_command_line_only_internal_and_dotted_keys_are_unknown(options: dict):
    settings, problems = Settings.from_lsp(options)
    assert settings == Settings()
    assert len(problems) == 1 and problems[0].endswith("unknown setting (ignored)")


def test_max_context_tokens_is_the_prompt_budget_under_its_own_name():
    # The editor key stays `maxContextTokens`; in Python it is the prompt budget, so it cannot be
    # mistaken for the engine's context limit (prompt + reply), which the model and memory set.
    settings, problems = Settings.from_lsp({"maxContextTokens": 1024})
    assert problems == [] and settings.prompt_budget_tokens == 1024
    assert not hasattr(settings, "max_context_tokens")
    assert "context limit" in next(s for s in SCHEMA if s.key == "maxContextTokens").description


def test_check_covers_bounds_and_kinds():
    by_key = {s.key: s for s in SCHEMA}
    assert check(by_key["kvCacheBudgetMb"], 0) is None
    assert check(by_key["kvCacheBudgetMb"], -1) == "must be between 0 and 1048576"
    assert check(by_key["remote.timeoutSeconds"], 0) == "must be positive"
    assert check(by_key["drafterModel"], None) is None
    assert check(by_key["model"], None) == "must not be null"
    assert check(by_key["tests.command"], []) == "must be a non-empty list of strings"
