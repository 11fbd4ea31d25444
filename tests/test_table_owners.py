"""One writer per catalog table, read from the source.

Each table of :mod:`pipeline.schema` has one owner: the module, or the stage's package, that
inserts, updates and deletes its rows. Every other module reads it, or calls a function of the
owner (e.g. :func:`curation.review.queue.enqueue`, :func:`pipeline.catalog.start_run`). The check
reads every module of the project packages with :mod:`ast` and finds

* SQLAlchemy writes: ``insert(t.x)``, ``update(t.x)``, ``delete(t.x)`` under any prefix (``sa.``,
  a dialect's ``pg_insert``...) and ``t.x.insert()``, also through a local name bound to a table
  (``dg = t.duplicate_groups``) or a table imported from the schema by name;
* SQL text outside docstrings: ``INSERT [OR ...] INTO x``, ``UPDATE x SET``, ``DELETE FROM x``.

Migrations (``pipeline/migrations``) change the schema and may write anything.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pipeline import schema
from tests.project_modules import project_modules

EXEMPT = ("pipeline.migrations",)

# Table -> the module or package that alone writes it. A package owner is a stage whose modules
# share the table: pipeline's intake inserts images and catalog.change_image changes them (with
# their history row); the review stage's queue adds items and its decisions close them;
# training's records write runs and its registry their role.
OWNERS: dict[str, str] = {
    "runs": "pipeline.catalog",
    "failures": "pipeline.catalog",
    "image_events": "pipeline.catalog",
    "images": "pipeline",
    "image_sources": "pipeline",
    "listings": "scrapers",
    "image_hashes": "curation.dedup",
    "duplicate_groups": "curation.dedup",
    "duplicate_members": "curation.dedup",
    "label_scores": "curation.labels",
    "review_items": "curation.review",
    "review_decisions": "curation.review.decisions",
    "splits": "curation.splits",
    "split_assignments": "curation.splits",
    "training_runs": "training",
    "run_metrics": "training.records",
}

WRITE_CALLS = {"insert", "update", "delete"}


def _sql_tables(text: str) -> list[str]:
    """Return the tables that SQL in ``text`` writes (``UPDATE x`` only when ``SET`` follows)."""
    found = []
    for match in re.finditer(
        r"\b(INSERT\s+(?:OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE)\s+[\"'`]?(\w+)[\"'`]?(\s+SET\b)?",
        text,
        re.IGNORECASE,
    ):
        verb, table, set_clause = match.groups()
        if verb.upper() == "UPDATE" and not set_clause:
            continue
        found.append(table)
    return found


class _Writes(ast.NodeVisitor):
    """Collect ``(line, table)`` for every write in one module."""

    def __init__(self, tables: set[str]) -> None:
        self.tables = tables
        self.schema_names: set[str] = set()  # local names of pipeline.schema
        self.table_names: dict[str, str] = {}  # local name -> table
        self.docstrings: set[int] = set()
        self.found: list[tuple[int, str]] = []

    def visit_Module(self, node: ast.Module) -> None:
        # Bindings first, wherever they are, so a use before its line still resolves.
        for child in ast.walk(node):
            self._bind(child)
            if isinstance(child, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    self.docstrings.add(id(body[0].value))
        self.generic_visit(node)

    def _bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.ImportFrom) and node.module == "pipeline":
            for alias in node.names:
                if alias.name == "schema":
                    self.schema_names.add(alias.asname or "schema")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pipeline.schema" and alias.asname:
                    self.schema_names.add(alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module == "pipeline.schema":
            for alias in node.names:
                if alias.name in self.tables:
                    self.table_names[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Assign):
            targets = node.targets[0]
            values = node.value
            pairs = (
                zip(targets.elts, values.elts, strict=False)
                if isinstance(targets, ast.Tuple) and isinstance(values, ast.Tuple)
                else [(targets, values)]
            )
            for target, value in pairs:
                table = self.table_of(value)
                if isinstance(target, ast.Name) and table:
                    self.table_names[target.id] = table

    def table_of(self, node: ast.AST | None) -> str | None:
        """Return the table an expression names (``t.images``, ``pipeline.schema.images``, a
        local alias), or None."""
        if isinstance(node, ast.Attribute) and node.attr in self.tables:
            base = node.value
            if isinstance(base, ast.Name) and base.id in self.schema_names:
                return node.attr
            if isinstance(base, ast.Attribute) and base.attr == "schema":
                return node.attr
        if isinstance(node, ast.Name):
            return self.table_names.get(node.id)
        if (  # schema.metadata.tables["images"]
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "tables"
        ):
            return node.slice.value if node.slice.value in self.tables else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        verb = name.rsplit("_", 1)[-1].lower()
        if verb in WRITE_CALLS:
            table = self.table_of(node.args[0]) if node.args else None
            if table is None and isinstance(func, ast.Attribute) and name in WRITE_CALLS:
                table = self.table_of(func.value)  # t.images.insert()
            if table is None:
                table = next(
                    (self.table_of(k.value) for k in node.keywords if k.arg == "table"), None
                )
            if table:
                self.found.append((node.lineno, table))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and id(node) not in self.docstrings:
            for table in _sql_tables(node.value):
                if table in self.tables:
                    self.found.append((node.lineno, table))


def writes_in(source: str, tables: set[str]) -> list[tuple[int, str]]:
    """Return ``(line, table)`` for every write to one of ``tables`` in a module's source."""
    visitor = _Writes(tables)
    visitor.visit(ast.parse(source))
    return sorted(set(visitor.found))


def owns(owner: str, module: str) -> bool:
    """Return whether ``module`` is ``owner`` or inside the package ``owner``."""
    return module == owner or module.startswith(owner + ".")


def stray_writes(modules: dict[str, Path], owners: dict[str, str]) -> dict[tuple[str, str], list]:
    """Return ``{(table, module): [line, ...]}`` for each write outside the table's owner."""
    stray: dict[tuple[str, str], list] = {}
    for module, path in modules.items():
        if any(owns(exempt, module) for exempt in EXEMPT):
            continue
        for line, table in writes_in(path.read_text(encoding="utf-8"), set(owners)):
            if not owns(owners[table], module):
                stray.setdefault((table, module), []).append(line)
    return stray


def test_every_table_has_one_owner_that_exists() -> None:
    assert set(OWNERS) == set(schema.metadata.tables), "add the new table's owner to OWNERS"
    modules = project_modules()
    for table, owner in OWNERS.items():
        assert any(owns(owner, m) for m in modules), f"{table}'s owner {owner} is not a module"


def test_only_a_tables_owner_writes_it() -> None:
    stray = stray_writes(project_modules(), OWNERS)
    assert stray == {}, (
        "these modules write tables they do not own; call a function of the owner instead: "
        + "; ".join(f"{m} writes {t} (lines {lines})" for (t, m), lines in stray.items())
    )


def test_every_owner_is_seen_writing_its_tables() -> None:
    """The scan finds the writes that are there (an owner that writes nothing is a stale map)."""
    writers: dict[str, set[str]] = {}
    for module, path in project_modules().items():
        for _line, table in writes_in(path.read_text(encoding="utf-8"), set(OWNERS)):
            writers.setdefault(table, set()).add(module)
    for table, owner in OWNERS.items():
        assert any(owns(owner, m) for m in writers.get(table, ())), f"{owner} never writes {table}"


PLANTED = '''
"""A module. It does not UPDATE images SET anything: docstrings are prose."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from pipeline import schema as t
from pipeline.schema import runs as run_table
import pipeline.schema as s


def f(conn, ids):
    gm, dg = t.duplicate_members, t.duplicate_groups
    conn.execute(sa.update(t.runs).values(status="ok"))
    conn.execute(sa.delete(dg).where(dg.c.id.in_(ids)))
    conn.execute(t.images.insert().values(label="x"))
    conn.execute(pg_insert(s.listings).values(url="u"))
    conn.execute(sa.insert(run_table))
    conn.execute(sa.text("insert or replace into failures (url) values (:u)"))
    conn.execute(sa.text('DELETE FROM "label_scores" WHERE run_id = 1'))
    conn.execute(sa.select(t.review_items).where(t.review_items.c.state == "update"))
    rows.update(t.images.c)  # a dict's update is no write
    note = "update images when asked"  # prose, not SQL
'''


def test_the_check_finds_planted_writes(tmp_path: Path) -> None:
    found = writes_in(PLANTED, set(OWNERS))
    assert found == [
        (12, "runs"),
        (13, "duplicate_groups"),
        (14, "images"),
        (15, "listings"),
        (16, "runs"),
        (17, "failures"),
        (18, "label_scores"),
    ]
    (tmp_path / "scrapers").mkdir()
    (tmp_path / "scrapers" / "crawl.py").write_text(PLANTED)
    (tmp_path / "pipeline" / "migrations").mkdir(parents=True)
    (tmp_path / "pipeline" / "migrations" / "m.py").write_text(PLANTED)
    stray = stray_writes(project_modules(tmp_path), OWNERS)
    assert set(stray) == {
        ("runs", "scrapers.crawl"),
        ("duplicate_groups", "scrapers.crawl"),
        ("images", "scrapers.crawl"),
        ("failures", "scrapers.crawl"),
        ("label_scores", "scrapers.crawl"),
    }, "scrapers owns listings; migrations are exempt"
    assert stray[("runs", "scrapers.crawl")] == [12, 16]


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("UPDATE splits SET test_count = 1", ["splits"]),
        ("update `runs`\n   set status = 'ok'", ["runs"]),
        ("INSERT OR IGNORE INTO image_hashes VALUES (1)", ["image_hashes"]),
        ("delete from review_items", ["review_items"]),
        ("SELECT * FROM images", []),
        ("update images to the newest version", []),
    ],
)
def test_sql_text_writes(sql: str, tables: list[str]) -> None:
    assert _sql_tables(sql) == tables
