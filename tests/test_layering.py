"""The package layering, read from the source: no import runs from a lower layer to a higher one.

pipeline < scrapers, curation < training < flows < cli. ``scrapers`` and ``curation`` sit side by
side and do not import each other. Benchmarks may import any layer, but only public names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each package may import from the project (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "pipeline": set(),
    "scrapers": {"pipeline"},
    "curation": {"pipeline"},
    "training": {"pipeline", "curation"},
    "flows": {"pipeline", "scrapers", "curation", "training"},
    "cli": {"pipeline", "scrapers", "curation", "training", "flows"},
}
PROJECT_PACKAGES = set(ALLOWED)


def imported_modules(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """Yield ``(line, module, names)`` for every import in ``path``, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def modules_of(package: str) -> list[Path]:
    """Return every Python file of a top-level folder, sorted."""
    return sorted((ROOT / package).rglob("*.py"))


def layering_violations(package: str) -> list[str]:
    """Return ``file:line imports module`` for each import of a layer ``package`` may not use."""
    found = []
    for path in modules_of(package):
        for line, module, _names in imported_modules(path):
            top = module.split(".")[0]
            if top in PROJECT_PACKAGES and top != package and top not in ALLOWED[package]:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_import_from_a_lower_layer_to_a_higher_one(package: str) -> None:
    assert modules_of(package), f"{package}/ holds no modules"
    assert layering_violations(package) == []


def test_benchmarks_use_public_names_only() -> None:
    private = []
    for path in modules_of("benchmarks"):
        for line, module, names in imported_modules(path):
            parts = module.split(".")
            if parts[0] not in PROJECT_PACKAGES:
                continue
            hidden = [p for p in parts[1:] if p.startswith("_")]
            hidden += [n for n in names if n.startswith("_")]
            if hidden:
                private.append(f"{path.relative_to(ROOT)}:{line} {module}: {hidden}")
    assert private == []


def test_the_check_sees_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested and aliased imports are found: an upward import cannot hide in a function."""
    fake = tmp_path / "pipeline"
    fake.mkdir()
    (fake / "bad.py").write_text(
        "import os\n\ndef later():\n    from cli.app import main\n    import flows.retrain as r\n"
    )
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert layering_violations("pipeline") == [
        "pipeline/bad.py:4 imports cli.app",
        "pipeline/bad.py:5 imports flows.retrain",
    ]
