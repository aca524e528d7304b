"""The README's Emacs (eglot) setup, run as written in a real Emacs: eglot starts the server, and
`completion-at-point` after a typed word completes it with the model's suggestion (fixture-free; skipped
where Emacs with eglot is not installed: Debian `emacs-nox elpa-eglot`).

`gemma-lsp` in the snippet is a script on PATH that starts this checkout's server on the scripted engine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO, server_env
from tests.lsp.lsp_harness import model_calls, write_script

EMACS = shutil.which("emacs")


def readme_snippet(heading: str, language: str) -> str:
    """The first ```language block after `heading` in the README."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(heading):]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"no {language} block after {heading}"
    return match.group(1)


DRIVER = """
(require 'eglot)
{snippet}
(setq eglot-sync-connect 60 jsonrpc-default-request-timeout 60)
(find-file "{file}")
(apply #'eglot (eglot--guess-contact))
(goto-char (point-min))
(search-forward "ret")
(let ((completion-styles '(basic)))
  (completion-at-point))
(princ (format "BUFFER:%s:END\\n" (buffer-string)))
(eglot-shutdown (eglot-current-server))
"""


def eglot_available() -> bool:
    if EMACS is None:
        return False
    probe = subprocess.run([EMACS, "--batch", "--eval", "(progn (require 'eglot) (princ \"ok\"))"],
                           capture_output=True, text=True, timeout=60)
    return probe.stdout == "ok"


@pytest.mark.skipif(not eglot_available(), reason="Emacs with eglot is not installed (emacs-nox elpa-eglot)")
def test_the_readme_eglot_setup_completes_the_typed_word():
    work = Path(tempfile.mkdtemp(prefix="gemma-eglot-"))
    script = write_script(work, {"completion": ["urn a + b\n```"]})
    bin_dir = work / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "gemma-lsp"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m gemma_lsp --model tiny --script {script} \"$@\"\n")
    launcher.chmod(0o755)
    source = work / "calc.py"
    source.write_text("def add(a, b):\n    ret\n")
    init = work / "init.el"
    init.write_text(DRIVER.format(snippet=readme_snippet("#### Emacs (eglot)", "elisp"), file=source))
    env = server_env(HOME=str(work), PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([EMACS, "--batch", "-l", str(init)], capture_output=True, text=True, timeout=300,
                         env=env, cwd=work)
    assert "BUFFER:def add(a, b):\n    return a + b\n:END" in run.stdout, run.stdout + run.stderr
    calls = model_calls(script)
    assert [c["purpose"] for c in calls] == ["completion"], json.dumps(calls)[:2000]
