"""The house's rules (docs/architecture.md): allowed imports between rooms, and no import cycles.

The contracts live in pyproject.toml ([tool.importlinter]) so `lint-imports` on the command line
checks the same thing; this test runs them in the suite and adds the cycle check import-linter
lacks. grimp (import-linter's graph) counts function-local imports too, so a lazy import cannot
hide a cycle or a forbidden edge.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("archive", "provenance", "naql", "apitokens")



@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    out = capsys.readouterr().out
    assert "BROKEN" not in out and exit_code == 0, out
    assert out.count("KEPT") >= 4, out


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), migrations excluded."""
    mods = {m for m in graph.modules if ".migrations" not in m}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (a few hundred)
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in mods:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(mods):
        if m not in index:
            visit(m)
    return out


def test_no_import_cycles_between_modules(graph):
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    g = grimp.ImportGraph()
    for m in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        g.add_module(m)
    g.add_import(importer="pkg.a", imported="pkg.b")
    g.add_import(importer="pkg.b", imported="pkg.a")
    g.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(g) == [["pkg.a", "pkg.b"]]


def test_no_module_over_800_lines():
    long = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            n = sum(1 for _ in path.open(encoding="utf-8"))
            if n > 800:
                long[str(path.relative_to(ROOT))] = n
    assert long == {}
