"""Every diagnostic code the engine can emit is in the code table (analysis/diagnostics.py),
and the table holds no code that nothing emits.

A code is written as a string literal where a diagnostic is made: the code argument of
``diagnostic()``, ``Diagnostic()``, ``SourceDiagnostic()`` or a ``diag()``/``_diag()`` helper
(also as either branch of a conditional expression there), or returned by a function whose
name ends in ``_code``. This test reads the engine's source for those places.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bpfls.analysis.diagnostics import CODES

from conftest import ROOT

ENGINE = ROOT / "server" / "bpfls"
MAKERS = {"diagnostic", "Diagnostic", "SourceDiagnostic", "diag", "_diag", "Issue"}
CODE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def _literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if CODE.match(node.value) else []
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def emitted_codes(engine: Path = ENGINE) -> dict[str, set[str]]:
    """code → the modules that emit it."""
    found: dict[str, set[str]] = {}
    for pkg in ("source", "analysis"):
        for path in sorted((engine / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            where = str(path.relative_to(engine))
            for node in ast.walk(tree):
                codes: list[str] = []
                if isinstance(node, ast.Call) and _name(node.func) in MAKERS:
                    for arg in node.args[:2]:
                        codes += _literals(arg)
                    codes += [c for k in node.keywords if k.arg == "code"
                              for c in _literals(k.value)]
                elif isinstance(node, ast.FunctionDef) and node.name.endswith("_code"):
                    codes += [c for r in ast.walk(node) if isinstance(r, ast.Return)
                              and r.value is not None for c in _literals(r.value)]
                for c in codes:
                    found.setdefault(c, set()).add(where)
    return found


def test_every_emitted_code_is_in_the_table() -> None:
    found = emitted_codes()
    assert len(found) >= 25, sorted(found)  # the scan still sees the emitters
    unknown = {c: sorted(w) for c, w in found.items() if c not in CODES}
    assert not unknown, f"add these codes to analysis/diagnostics.py's CODES: {unknown}"


def test_every_code_in_the_table_is_emitted() -> None:
    found = emitted_codes()
    assert [c for c in CODES if c not in found] == []


def test_the_scan_sees_a_code_that_is_not_in_the_table(tmp_path: Path) -> None:
    (tmp_path / "analysis").mkdir()
    (tmp_path / "source").mkdir()
    (tmp_path / "analysis" / "x.py").write_text(
        "def f(a):\n    return diagnostic('no-such' if a else 'field-missing', 'a msg', '', 0)\n")
    (tmp_path / "source" / "y.py").write_text(
        "def why_code(a):\n    return 'type-missing' if a else 'other-thing'\n")
    assert emitted_codes(tmp_path) == {"no-such": {"analysis/x.py"},
                                       "field-missing": {"analysis/x.py"},
                                       "type-missing": {"source/y.py"},
                                       "other-thing": {"source/y.py"}}
