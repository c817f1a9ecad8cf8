"""The shape of the code: no import cycles, heavy dependencies behind their one door, and
a public surface that imports.

Imports are read from the sources: every ``import``, lazy ones inside functions too, and
the modules a package's lazy ``_EXPORTS`` name; not those in the body of
``if TYPE_CHECKING:``, which never runs.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

import vecstore

REPO = Path(__file__).resolve().parent.parent
#: Where each package's sources live (pyproject maps cli/ and migrations/ into vecstore).
PACKAGES = {"vecstore": REPO / "vecstore", "vecstore.cli": REPO / "cli", "vecstore.migrations": REPO / "migrations"}


@functools.cache
def modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "vecstore" and name.startswith(("vecstore.cli", "vecstore.migrations")):
                continue  # (a stray folder of that name under vecstore/ is not the package)
            found[name] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports when its code runs (absolute names).

    ``from package import x`` is an import of ``package.x`` when ``x`` is a module (or an
    extension such as ``_fastparse``), else of ``package``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and
                 ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                 for statement in node.body for n in ast.walk(statement)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known or alias.name.startswith("_") else base)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS"
                                                  for t in node.targets) and isinstance(node.value, ast.Dict):
            found |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}  # lazy exports
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports_of(name, path) if m in known and m != name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_is_read_from_the_sources() -> None:
    edges = graph()
    assert "vecstore.storage.sqlite" in edges["vecstore.storage.opening"]
    assert "vecstore.keras.layers" in edges["vecstore.keras.trained"]  # (a lazy import, counted)
    assert "vecstore.importer" in edges["vecstore.store"]  # (lazy, inside Store._import)
    assert "vecstore.store" in edges["vecstore"]  # (a lazy export, counted)
    assert "vecstore.store" not in edges["vecstore.keras.trained"]  # (under TYPE_CHECKING: never runs)
    assert "vecstore" not in edges["vecstore.query"]  # (from vecstore import _fastparse: the extension)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles(graph()) == []


#: Each heavy dependency, and the only modules that may import it.
HEAVY_DOORS = {
    "keras": ("vecstore.keras.layers",),
    "tensorflow": (),
    "typer": ("vecstore.cli.app", "vecstore.cli.*"),  # (the command line only: never the library)
    "rich": ("vecstore.cli.output",),  # (progress bars)
    "matplotlib": ("vecstore.plot",),
    "sqlalchemy": ("vecstore.storage.engine", "vecstore.storage.migrate", "vecstore.migrations.*"),
    "alembic": ("vecstore.storage.migrate", "vecstore.migrations.*"),
}


@pytest.mark.parametrize("dependency", sorted(HEAVY_DOORS))
def test_heavy_dependencies_are_imported_only_behind_their_door(dependency: str) -> None:
    importers = sorted(name for name, path in modules().items()
                       if any(m == dependency or m.startswith(dependency + ".") for m in imports_of(name, path)))
    doors = HEAVY_DOORS[dependency]  # ("package.*": any module of that package, the migrations)
    allowed = [m for m in importers if m in doors or any(d.endswith(".*") and m.startswith(d[:-1]) for d in doors)]
    assert importers == allowed
    if doors:  # (the door is real: the list cannot rot into allowing anything)
        assert doors[0] in importers


def test_the_keras_bridge_depends_on_the_store_never_the_reverse() -> None:
    edges = graph()
    keras_modules = {m for m in edges if m == "vecstore.keras" or m.startswith("vecstore.keras.")}
    outside = {m: sorted(edges[m] & keras_modules) for m in edges if m not in keras_modules and not
               m.startswith("vecstore.cli")}
    assert {m: deps for m, deps in outside.items() if deps} == {}


def test_every_public_name_imports_and_is_listed_once() -> None:
    names = [n for n in vecstore.__all__ if n != "__version__"]
    for name in names:
        value = getattr(vecstore, name)
        assert getattr(value, "__name__", name) == name
        module = importlib.import_module(value.__module__)
        assert getattr(module, name) is value
    assert "ReadOptions" in names  # Store.import_file takes it


def test_the_keras_bridge_lists_what_it_exports() -> None:
    import vecstore.keras

    for name in vecstore.keras.__all__:
        assert getattr(vecstore.keras, name) is not None
