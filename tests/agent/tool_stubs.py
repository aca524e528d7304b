"""A stand-in for a tool's result, shaped as the tool loop reads one (ok, content, error, summary)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

READ = '<|tool_call>call:read_file{path:<|"|>calc.py<|"|>}<tool_call|>'  # the model asks to read calc.py


@dataclass
class Result:
    ok: bool
    content: Any = None
    error: str = ""
    summary: str = ""
