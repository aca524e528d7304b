"""docs/architecture.md's feature table names real code: every path exists, and every name given after
a module is defined in it, so the table cannot silently rot when code moves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "server" / "gemma_lsp"
DOC = ROOT / "docs" / "architecture.md"
# The table's columns and where their paths live when a path does not say (docs/architecture.md).
COLUMN_HOME = {2: PACKAGE / "lsp", 3: PACKAGE / "features", 4: PACKAGE}
NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?(\(\w*\))?")


def table_rows() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8").split("## Features", 1)[1]
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def resolve(path: str, column: int) -> Path | None:
    if path.startswith("tests/"):
        candidates = [ROOT / path]
    else:
        candidates = [COLUMN_HOME.get(column, PACKAGE) / path, PACKAGE / path]
    return next((c for c in candidates if c.exists()), None)


def defines(module: Path, name: str) -> bool:
    """Whether `module` defines `name` (`Class.method` too) at any level."""
    source = module.read_text(encoding="utf-8")
    return all(re.search(rf"^\s*(async def|def|class) {part}\b|^\s*{part}\s*[:=]", source, re.M)
               for part in name.split("(")[0].split("."))


def test_the_table_has_every_feature_module_of_lsp():
    handlers = " ".join(row[2] for row in table_rows())
    glue = {"__init__.py", "server.py", "errors.py", "protocol.py", "targets.py", "delivery.py", "progress.py"}
    missing = [p.name for p in sorted((PACKAGE / "lsp").glob("*.py")) if p.name not in glue and f"`{p.name}`" not in handlers]
    assert not missing, f"lsp/ modules with no row in docs/architecture.md: {missing}"


def test_every_path_and_name_in_the_feature_table_exists():
    problems: list[str] = []
    rows = table_rows()
    assert len(rows) >= 10 and all(len(row) == 6 for row in rows), "the feature table's shape changed"
    for row in rows:
        for column, cell in enumerate(row[1:], start=1):
            module: Path | None = None
            for gap, token in re.findall(r"([^`]*)`([^`]+)`", cell):
                if token.endswith((".py", "/")):
                    module = resolve(token, column)
                    if module is None:
                        problems.append(f"{row[0]}: no {token}")
                elif module is not None and module.is_file() and gap.strip() in ("", ",") and NAME.fullmatch(token):
                    if not defines(module, token):
                        problems.append(f"{row[0]}: {token} is not defined in {module.relative_to(ROOT)}")
                else:
                    module = None  # prose between: the names that follow are not the module's
    assert not problems, "\n".join(problems)


def test_every_path_in_the_text_exists():
    text = DOC.read_text(encoding="utf-8")
    paths = {token for token in re.findall(r"`([\w./]+(?:\.py|\.toml|/))`", text) if "/" in token}
    missing = [p for p in sorted(paths) if not (PACKAGE / p).exists() and not (ROOT / p).exists()]
    assert paths and not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_tests_mirror_the_packages():
    """Every package of gemma_lsp has its tests in tests/<package>/ (docs/architecture.md, Tests)."""
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    untested = [name for name in packages if not list((ROOT / "tests" / name).glob("test_*.py"))]
    assert packages and not untested, f"packages with no tests/<package>/test_*.py: {untested}"
