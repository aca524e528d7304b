"""search_text's matching, run as its own short-lived process (stdlib only).

The pattern comes from the model, and a regular expression can backtrack for ever; in a separate
process the server can kill it on a timeout or a cancel instead of losing a thread to it.

Usage: python matcher.py PATTERN IGNORE_CASE(0|1) MAX_MATCHES WORKSPACE FILE...  (files relative to
WORKSPACE; the process itself runs in "/", never in the workspace)
Prints one JSON object per match ({"path", "line", "text"}), then {"done": true, "files": N}.
"""

import json
import re
import sys
from pathlib import Path

# The one helper for host-side reads of workspace files (stdlib only), imported by path so this
# process does not load the gemma_lsp package: no following links out, no FIFOs or devices.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sandbox"))
import hostfiles  # noqa: E402

MAX_LINE = 300
MAX_FILE_BYTES = 2_000_000


def main(argv: list[str]) -> int:
    pattern, ignore_case, limit = argv[0], argv[1] == "1", int(argv[2])
    workspace, files = Path(argv[3]), argv[4:]
    regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    found = 0
    for path in files:
        try:
            data = hostfiles.read_bytes(workspace, path, MAX_FILE_BYTES, truncate=True)
        except OSError:
            continue
        if b"\0" in data[:8192]:
            continue  # binary
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if regex.search(line):
                text = line if len(line) <= MAX_LINE else line[:MAX_LINE] + "…"
                print(json.dumps({"path": path, "line": number, "text": text}))
                found += 1
                if found >= limit:
                    print(json.dumps({"done": True, "files": len(files), "truncated": True}))
                    return 0
    print(json.dumps({"done": True, "files": len(files), "truncated": False}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
