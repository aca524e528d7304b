"""Short soaks against the real server (see gemma_lsp/bench/soak.py): one with the tiny model, one
with canned replies whose debug sessions run real sandboxed tools.

Health, not speed: no failed request, resident memory within 5 % of the warmed-up start, no file
descriptor growth, no thread growth beyond a small allowance, nothing left running after `exit`
(sandbox children included), and not one byte of the workspace changed. The longer run is
`python -m gemma_lsp.bench soak --minutes 10`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gemma_lsp.bench import soak
from gemma_lsp.bench.__main__ import main, parse_args
from gemma_lsp.sandbox import sandbox_status

# Threads the server may start lazily after the warm-up: asyncio's default executor grows one
# worker at a time up to min(32, cpus + 4) as to_thread calls overlap (model calls, file reads,
# tool runs), so an overlap the warm-up did not happen to hit may add a worker or two. They are
# pooled, not leaked: a leak grows with the run's length, this allowance does not.
THREAD_ALLOWANCE = 2


def _assert_healthy(report: dict[str, Any]) -> None:
    assert report["failed"] == 0, report["errors"]
    assert report["served"] > 0 and report["requests"].get("completion", 0) > 0, report
    assert report["rss_end_mb"] <= report["rss_start_mb"] * 1.05, report
    assert report["fds_end"] <= report["fds_start"], report
    assert report["threads_end"] <= report["threads_start"] + THREAD_ALLOWANCE, report
    assert report["orphans"] == 0, report
    assert report["exit_code"] == 0 and report["shutdown_ok"], report
    assert report["workspace_modified"] == [], report


def test_a_minute_of_typing_with_the_tiny_model(tmp_path: Path):
    assert main(["soak", "--minutes", "1", "--json", str(tmp_path / "soak.json")]) == 0
    _assert_healthy(json.loads((tmp_path / "soak.json").read_text()))


def test_half_a_minute_of_typing_and_debugging_with_sandboxed_tools(tmp_path: Path):
    report = soak.run(parse_args(["soak", "--minutes", "0.5", "--scripted", "--seed", "3"]))
    _assert_healthy(report)
    assert report["requests"].get("command:gemma.debug", 0) > 0, report
    if sandbox_status().available:
        assert report["children_seen"] > 0, report  # run_tests really started sandboxed processes
