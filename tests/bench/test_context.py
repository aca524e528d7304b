"""The context benchmark runs end to end on small sizes and reports every key (no timing thresholds:
the numbers are for people to read)."""

from __future__ import annotations

from gemma_lsp.bench.__main__ import parse_args
from gemma_lsp.bench.context import run


def test_benchmark_reports_every_key(tmp_path):
    results = run(parse_args(["context", "--lines", "400", "--files", "30", "--requests", "20"]))
    for key in ["ctx_p50_ms", "ctx_p95_ms", "index_files", "index_seconds", "index_rss_mb", "during_index_slowdown"]:
        assert key in results
    assert results["index_files"] == 30
    assert results["ctx_p50_ms"] > 0 and results["ctx_requests"] == 20
