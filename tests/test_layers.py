"""The import graph of ``server/bpfls`` keeps the layers (ARCHITECTURE.md).

Read statically from the source (``ast``): every ``import``/``from ... import`` of a bpfls
module, at module level, inside a function, or under ``TYPE_CHECKING``.

- A package imports only the packages below it: ``btf → core → source → analysis → lsp | cli``,
  with ``project`` (configuration, compile database, kernel set) beside ``source`` on top of
  ``btf``. The CLI is the program's entry point and may start the language server (``bpfls
  serve``); the language server never imports the CLI.
- The engine (``btf``, ``core``, ``source``, ``project``, ``analysis``) never imports the
  protocol libraries (``pygls``, ``lsprotocol``).
- No import cycle between packages, nor between modules (imports under ``TYPE_CHECKING``
  excepted: they do not run).
- An import inside a function is there to keep start-up fast or to load an optional
  dependency, and says why in a comment on its line or the line above.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT

SERVER = ROOT / "server"
PACKAGE = SERVER / "bpfls"

#: package → the packages it may import (``bpfls`` itself, the version, is open to all)
LAYERS: dict[str, frozenset[str]] = {
    "btf": frozenset(),
    "core": frozenset({"btf"}),
    "source": frozenset({"btf", "core"}),
    "project": frozenset({"btf"}),
    "analysis": frozenset({"btf", "core", "source", "project"}),
    "lsp": frozenset({"btf", "core", "source", "project", "analysis"}),
    "cli": frozenset({"btf", "core", "source", "project", "analysis", "lsp"}),
}
ENGINE = ("btf", "core", "source", "project", "analysis")
PROTOCOL = ("pygls", "lsprotocol")


@dataclass(frozen=True)
class Import:
    source: str  # importing module (bpfls.core.spec)
    target: str  # imported module or package (bpfls.btf, pygls.lsp.server)
    line: int
    inline: bool  # inside a function
    type_only: bool  # under `if TYPE_CHECKING:`


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVER).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p): p for p in sorted(root.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(name: str, path: Path, known: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, inline: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, True, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module([stmt], []), inline, True)
                for stmt in child.orelse:
                    visit(ast.Module([stmt], []), inline, type_only)
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    out.append(Import(name, alias.name, child.lineno, inline, type_only))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[:len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in known else base
                    out.append(Import(name, target, child.lineno, inline, type_only))
            else:
                visit(child, inline, type_only)

    visit(tree, False, False)
    return out


def graph(root: Path = PACKAGE) -> list[Import]:
    mods = modules(root)
    known = set(mods)
    return [i for name, path in mods.items() for i in imports_of(name, path, known)]


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "bpfls" and parts[1] in LAYERS else None


def layer_violations(imports: list[Import]) -> list[str]:
    out = []
    for i in imports:
        src, dst = layer(i.source), layer(i.target)
        if src is None or dst is None or src == dst:
            continue
        if dst not in LAYERS[src]:
            out.append(f"{i.source}:{i.line} imports {i.target} ({src} → {dst})")
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def module_edges(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in imports:
        if i.type_only or not i.target.startswith("bpfls") or i.target == i.source:
            continue
        # importing bpfls.a.b runs bpfls.a first
        edges.setdefault(i.source, set()).add(i.target)
    return edges


def package_edges(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in imports:
        src, dst = layer(i.source), layer(i.target)
        if src and dst and src != dst:
            edges.setdefault(src, set()).add(dst)
    return edges


def unexplained_inline(imports: list[Import], mods: dict[str, Path]) -> list[str]:
    out = []
    lines = {name: path.read_text().splitlines() for name, path in mods.items()}
    for i in imports:
        if not i.inline or i.type_only:
            continue
        if not (i.target.startswith("bpfls") or i.target.split(".")[0] in (
                *PROTOCOL, "zstandard")):
            continue  # the standard library is not a start-up cost worth a reason
        text = lines[i.source]
        n = i.line - 1  # the import's line, then the imports just above it (one reason each)
        while n > 0 and text[n].lstrip().startswith(("from ", "import ")) and "#" not in text[n]:
            n -= 1
        if "#" not in text[i.line - 1] and not text[n].lstrip().startswith("#"):
            out.append(f"{i.source}:{i.line} imports {i.target} inside a function without a "
                       "comment saying why")
    return out


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    return graph()


def test_packages_import_only_the_layers_below(imports) -> None:
    assert layer_violations(imports) == []


def test_no_package_cycle(imports) -> None:
    assert cycles(package_edges(imports)) == []


def test_no_module_cycle(imports) -> None:
    assert cycles(module_edges(imports)) == []


def test_the_engine_never_imports_the_protocol_libraries(imports) -> None:
    bad = [f"{i.source}:{i.line} imports {i.target}" for i in imports
           if layer(i.source) in ENGINE and i.target.split(".")[0] in PROTOCOL]
    assert bad == []


def test_inline_imports_say_why(imports) -> None:
    assert unexplained_inline(imports, modules()) == []


def test_every_module_belongs_to_a_layer() -> None:
    loose = [m for m in modules() if m not in ("bpfls", "bpfls.__main__") and layer(m) is None]
    assert loose == []


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    """A layer violation, a package cycle, a module cycle and an unexplained inline import in
    a made-up tree are all found."""
    pkg = tmp_path / "bpfls"
    for sub in ("btf", "core"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "btf" / "a.py").write_text("from bpfls.core import b\n")
    (pkg / "core" / "b.py").write_text("from bpfls.btf.a import x\n\n\ndef f():\n"
                                       "    from bpfls.core import c\n")
    (pkg / "core" / "c.py").write_text("from bpfls.core.b import f\n")
    global SERVER
    saved, SERVER = SERVER, tmp_path
    try:
        found = graph(pkg)
        mods = modules(pkg)
    finally:
        SERVER = saved
    assert layer_violations(found) == ["bpfls.btf.a:1 imports bpfls.core.b (btf → core)"]
    assert cycles(package_edges(found)) == [["btf", "core"]]
    assert cycles(module_edges(found)) == [["bpfls.btf.a", "bpfls.core.b", "bpfls.core.c"]]
    assert unexplained_inline(found, mods) == [
        "bpfls.core.b:5 imports bpfls.core.c inside a function without a comment saying why"]
