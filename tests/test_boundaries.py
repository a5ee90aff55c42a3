"""Module boundaries from the developers' guide, enforced by reading every module's imports with ``ast``.

- only ``embedded_app/procore/`` speaks HTTP to Procore (requests, authlib, httpx, urllib.request, http.client);
- only ``embedded_app/drafting/`` imports ``anthropic``;
- only ``embedded_app/store/`` imports ``sqlite_utils`` / ``sqlite3``;
- only ``embedded_app/mail.py`` speaks SMTP (``smtplib``);
- ``embedded_app/engine/`` is pure: no Flask, HTTP, SQLite, files, sockets, and nothing from the rest of the app;
- views stay thin: no SQL (``db.execute`` / ``db.query`` / ``db.table`` / ``db.conn``) in ``embedded_app/views/``.

The stand-in Procore (``embedded_app/sandbox/``) is a separate server, not part of the app; it is skipped.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "embedded_app"
SKIPPED = ("sandbox/",)

# module prefix → the only places (paths relative to the package) allowed to import it
RESTRICTED: dict[str, tuple[str, ...]] = {
    "requests": ("procore/",),
    "authlib": ("procore/",),
    "httpx": ("procore/",),
    "urllib3": ("procore/",),
    "urllib.request": ("procore/",),
    "http.client": ("procore/",),
    "anthropic": ("drafting/",),
    "sqlite_utils": ("store/",),
    "sqlite3": ("store/",),
    "smtplib": ("mail.py",),
}
ENGINE_FORBIDDEN = (
    "flask", "werkzeug", "jinja2", "requests", "authlib", "httpx", "urllib3", "urllib.request", "http",
    "sqlite_utils", "sqlite3", "anthropic", "smtplib", "socket", "ssl", "os", "pathlib", "io", "shutil",
    "subprocess", "threading", "logging", "tempfile", "embedded_app",
)
SQL_ATTRIBUTES = {"execute", "executescript", "query", "table", "conn", "atomic"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py")
                  if not p.relative_to(PACKAGE).as_posix().startswith(SKIPPED))


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _package_of(rel: str) -> list[str]:
    parts = ["embedded_app", *rel[:-3].split("/")]
    return parts[:-1] if parts[-1] != "__init__" else parts[:-1]


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module the file imports (relative imports resolved, lazy imports included)."""
    rel = _rel(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(rel)
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # `from urllib import request`
    return found


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def boundary_violations(path: Path) -> list[str]:
    rel = _rel(path)
    problems = []
    for module in sorted(imported_modules(path)):
        for prefix, allowed in RESTRICTED.items():
            if _matches(module, prefix) and not any(rel.startswith(a) for a in allowed):
                problems.append(f"{rel} imports {module} (only {', '.join(allowed)} may)")
        if rel.startswith("engine/"):
            inside_engine = _matches(module, "embedded_app.engine")
            if not inside_engine and any(_matches(module, f) for f in ENGINE_FORBIDDEN):
                problems.append(f"{rel} imports {module}: the engine is pure")
    if rel.startswith("engine/"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("open", "print",
                                                                                                   "input"):
                problems.append(f"{rel}:{node.lineno} calls {node.func.id}(): the engine does no I/O")
    if rel.startswith("views/"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr in SQL_ATTRIBUTES
                    and isinstance(node.value, ast.Name) and node.value.id in ("db", "database")):
                problems.append(f"{rel}:{node.lineno} uses db.{node.attr}: views go through store functions")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_ATTRIBUTES
                    and isinstance(node.func.value, ast.Call) and getattr(node.func.value.func, "id", "") == "get_db"):
                problems.append(f"{rel}:{node.lineno} uses get_db().{node.func.attr}: views go through store "
                                "functions")
    return problems


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_module_respects_the_boundaries(path: Path) -> None:
    assert boundary_violations(path) == []


def test_the_package_is_scanned() -> None:
    rels = {_rel(p) for p in _modules()}
    assert {"views/pages.py", "engine/aging.py", "store/cache.py", "mail.py", "procore/client.py"} <= rels
    assert not any(r.startswith("sandbox/") for r in rels)


@pytest.mark.parametrize(("rel", "source", "expected"), [
    ("views/pages.py", "import sqlite_utils\n", "imports sqlite_utils"),
    ("views/pages.py", "from sqlite_utils.db import Database\n", "imports sqlite_utils.db"),
    ("views/pages.py", "def f():\n    import requests\n", "imports requests"),
    ("views/pages.py", "from urllib import request\n", "imports urllib.request"),
    ("outreach.py", "import anthropic\n", "imports anthropic"),
    ("outbox.py", "import smtplib\n", "imports smtplib"),
    ("sync.py", "import sqlite3\n", "imports sqlite3"),
    ("engine/aging.py", "from flask import g\n", "the engine is pure"),
    ("engine/aging.py", "from ..store import cache\n", "the engine is pure"),
    ("engine/aging.py", "import os\n", "the engine is pure"),
    ("engine/aging.py", "x = open('f')\n", "the engine does no I/O"),
    ("views/pages.py", "def f(db):\n    db.execute('select 1')\n", "views go through store functions"),
    ("views/pages.py", "def f():\n    get_db().table('x')\n", "views go through store functions"),
])
def test_the_checker_catches_a_violation(tmp_path, monkeypatch, rel: str, source: str, expected: str) -> None:
    """The scan is not vacuous: a planted import in the wrong place is reported."""
    fake_package = tmp_path / "embedded_app"
    target = fake_package / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake_package)
    problems = boundary_violations(target)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(("rel", "source"), [
    ("procore/client.py", "import requests\nfrom authlib.integrations.requests_client import OAuth2Session\n"),
    ("store/cache.py", "import sqlite_utils\n"),
    ("drafting/claude.py", "import anthropic\n"),
    ("mail.py", "import smtplib\n"),
    ("engine/compute.py", "from .aging import as_int\nfrom decimal import Decimal\n"),
])
def test_the_checker_allows_the_owner(tmp_path, monkeypatch, rel: str, source: str) -> None:
    target = tmp_path / "embedded_app" / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "embedded_app")
    assert boundary_violations(target) == []
