#!/usr/bin/env bash
# CI for the VS Code extension: npm ci, typecheck, lint, unit tests, vsce package (the .vsix), and the
# real-VS-Code end-to-end suite. Prints one PASS/FAIL line per step with counts and times, and exits
# non-zero when any step failed. Bounded: every step runs under `timeout`.
# Env: GEMMA_E2E_PYTHON (Python for the server in the e2e run), GEMMA_SKIP_E2E=1 (skip the e2e suite).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
LOGS="$HERE/out/ci"
mkdir -p "$LOGS"
passed=0
failed=0
summary=()

# step NAME SECONDS COMMAND...: runs the command with a time limit, its output in out/ci/NAME.log.
step() {
  local name=$1 limit=$2
  shift 2
  local log="$LOGS/${name// /-}.log" t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  local extra=""
  if [[ $name == "unit tests" ]]; then
    extra=" ($(grep -E '^# (pass|fail) ' "$log" | tr '\n' ' ' | sed 's/# //g; s/ $//'))"
  elif [[ $name == "e2e" ]]; then
    extra=" ($(grep -E '^e2e: [0-9]+ passed' "$log" | sed 's/^e2e: //'))"
  fi
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    summary+=("PASS $name$extra [$((SECONDS - t0)) s]")
  else
    failed=$((failed + 1))
    [[ $rc -eq 124 ]] && extra="$extra (timed out after $limit s)"
    summary+=("FAIL $name$extra [$((SECONDS - t0)) s] log: $log")
    echo "----- $name failed (rc $rc); last lines of $log:"
    tail -40 "$log"
  fi
  echo "${summary[-1]}"
}

step "npm ci" 300 npm ci --no-audit --no-fund
step "typecheck" 120 npm run typecheck
step "lint" 120 npm run lint
# package.json and src/settingsTable.ts are generated from the server's schema (server/gemma_lsp/config.py).
step "settings schema" 60 env PYTHONPATH="$HERE/../../server" python3 -m gemma_lsp.settings_docs --check
step "unit tests" 120 npm run test:unit
step "vsce package" 120 npm run package
if [[ ${GEMMA_SKIP_E2E:-0} == 1 ]]; then
  summary+=("SKIP e2e (GEMMA_SKIP_E2E=1)")
else
  step "e2e" 840 scripts/e2e.sh  # a first run also builds code-server (~7 min on 2 busy cores)
fi

echo
echo "VS Code extension: $passed steps passed, $failed failed"
printf '  %s\n' "${summary[@]}"
[[ $failed -eq 0 ]]
