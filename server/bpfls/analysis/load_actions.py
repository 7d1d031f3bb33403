"""Quick fixes for what a program names in the kernel (:mod:`bpfls.analysis.load_check`).

- ``helper-missing``: guard the call with ``bpf_core_enum_value_exists(enum bpf_func_id,
  BPF_FUNC_<name>)``: the statement is wrapped in an ``if``, or a call inside a larger
  statement becomes ``<check> ? <call> : 0``. On a kernel without the helper the check is a
  constant 0, the verifier never visits the call and drops it as dead code.
- ``attach-target-missing`` on an ``fentry``/``fexit`` program: attach with a kprobe
  (kretprobe) instead. Offered only when the program reads its arguments as values: a kprobe's
  arguments are plain numbers to the verifier, so a body that dereferences one directly would
  trade a missing target for a verifier error (and no fix may produce such code).
- ``signature-mismatch``: declare the parameter with the kernel's type.
- ``kernel-pointer-deref``: read the member chain with ``BPF_CORE_READ()``.

The edits come from the current text; a diagnostic whose tokens moved since it was computed
gets no fix.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bpfls.analysis.actions import QUICKFIX, CodeAction, TextEdit
from bpfls.source.positions import Range

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.analysis.actions import _Fixer
    from bpfls.analysis.diagnostics import Diagnostic

#: the codes this module fixes
LOAD_FIXABLE = frozenset({"helper-missing", "attach-target-missing", "signature-mismatch",
                          "kernel-pointer-deref"})

_IDENT = re.compile(r"[A-Za-z_]\w*")


def load_fixes(fixer: _Fixer, d: Diagnostic) -> list[CodeAction]:
    fix = _FIXES.get(d.code)
    if fix is None:
        return []
    found = fix(fixer, d)
    return [found] if found is not None else []


def _span(fixer: _Fixer, r: Range) -> tuple[int, int] | None:
    doc = fixer.doc
    s = doc.offset(*r.start)
    e = doc.offset(*r.end)
    if s is None or e is None or e < s:
        return None
    return s, e


# -- helper-missing ----------------------------------------------------------------------------

def _guard_helper(fixer: _Fixer, d: Diagnostic) -> CodeAction | None:
    from bpfls.analysis.actions import _BLOCKS, _statement

    helper = d.data.get("helper")
    enumerator = d.data.get("enumerator")
    span = _span(fixer, d.range)
    if not helper or not enumerator or span is None:
        return None
    doc = fixer.doc
    cond = f"bpf_core_enum_value_exists(enum bpf_func_id, {enumerator})"
    node = doc.tree.root_node.descendant_for_byte_range(*span)
    call = node
    while call is not None and call.type != "call_expression":
        call = call.parent
    if call is None:
        return None
    stmt = _statement(call)
    if stmt is None:
        return None
    title = f"Guard with bpf_core_enum_value_exists(enum bpf_func_id, {enumerator})"
    if stmt.type == "expression_statement" and stmt.parent is not None and \
            stmt.parent.type in _BLOCKS:
        return CodeAction(title, QUICKFIX, (fixer._wrap(stmt, cond),), (d,), True)
    if not fixer._rvalue(call):
        return None
    return CodeAction(title + " (0 where it is missing)", QUICKFIX,
                      (fixer._ternary(call, lambda nested: cond, doc.node_text(call), "0"),),
                      (d,), True)


# -- attach-target-missing: fentry → kprobe -----------------------------------------------------

#: fentry-style section prefix → (kprobe-style prefix, program macro it takes)
_SWITCH = {"fentry/": ("kprobe/", "BPF_KPROBE"), "fexit/": ("kretprobe/", "BPF_KRETPROBE")}


def _to_kprobe(fixer: _Fixer, d: Diagnostic) -> CodeAction | None:
    name = d.data.get("program")
    model = fixer.model
    prog = next((p for p in model.programs if p.name == name and p.path == fixer.path), None)
    if prog is None or prog.section_range is None:
        return None
    head = next((h for h in _SWITCH if prog.section.startswith(h)), None)
    if head is None:
        return None
    new_head, new_macro = _SWITCH[head]
    target = prog.section[len(head):]
    if not target or ":" in target:
        return None  # a module target: kprobes name no module
    doc = fixer.doc
    sspan = _span(fixer, prog.section_range)
    if sspan is None or doc.text(*sspan) != prog.section:
        return None
    edits = [TextEdit(fixer.path, prog.section_range, new_head + target)]
    if prog.macro == "BPF_PROG":
        fn = _function_at(fixer, prog.range)
        if fn is None:
            return None
        header = _macro_call(fn)
        if header is None:
            return None
        body = fn.child_by_field_name("body")
        params = list(prog.params)
        if head == "fexit/":
            if not params:
                return None
            kept = [params[-1]]  # ret
            if any(p.used for p in params[:-1]):
                return None  # a kretprobe cannot read the arguments
        else:
            kept = params
        if body is None or any(_dereferenced(doc.node_text(body), p.name) for p in kept):
            return None
        mspan = (header.start_byte, header.start_byte + len("BPF_PROG"))
        if doc.text(*mspan) != "BPF_PROG":
            return None
        edits.append(TextEdit(fixer.path, doc.span(*mspan), new_macro))
        if head == "fexit/" and len(params) > 1:
            args = header.child_by_field_name("arguments")
            if args is None:
                return None
            named = [c for c in args.named_children if c.type != "comment"]
            if len(named) != len(params) + 1:
                return None
            edits.append(TextEdit(fixer.path, doc.span(named[1].start_byte, named[-1].start_byte),
                                  ""))
    elif prog.macro is not None or prog.params:
        return None
    kind = "kretprobe" if head == "fexit/" else "kprobe"
    return CodeAction(f"Attach with a {kind} (SEC(\"{new_head}{target}\"))", QUICKFIX,
                      tuple(edits), (d,), False)


def _dereferenced(body: str, name: str) -> bool:
    """The body reads through ``name`` directly (``name->``, ``*name``, ``name[``)."""
    n = re.escape(name)
    return re.search(rf"\b{n}\s*(->|\[)|\*\s*\(?\s*{n}\b", body) is not None


def _function_at(fixer: _Fixer, r: Range) -> Node | None:
    span = _span(fixer, r)
    if span is None:
        return None
    n = fixer.doc.tree.root_node.descendant_for_byte_range(*span)
    while n is not None and n.type != "function_definition":
        n = n.parent
    return n


def _macro_call(fn: Node) -> Node | None:
    """The ``BPF_PROG(name, ...)`` declarator of a program function."""
    d = fn.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d


# -- signature-mismatch -------------------------------------------------------------------------

def _fix_param(fixer: _Fixer, d: Diagnostic) -> CodeAction | None:
    from bpfls.analysis.hover import _decl

    name = d.data.get("param")
    ktype = d.data.get("kernel_type")
    span = _span(fixer, d.range)
    if not name or not ktype or span is None:
        return None
    doc = fixer.doc
    text = doc.text(*span)
    if "," in text:  # BPF_PROG2's "type, name"
        new = f"{ktype}, {name}"
    elif _IDENT.findall(text)[-1:] == [name]:
        new = _decl(ktype if ktype.endswith("*") else ktype + " ", name).replace("  ", " ")
    else:
        return None
    if new == text:
        return None
    return CodeAction(f"Declare `{name}` as the kernel's `{ktype}`", QUICKFIX,
                      (TextEdit(fixer.path, d.range, new),), (d,), True)


# -- kernel-pointer-deref ------------------------------------------------------------------------

def _core_read(fixer: _Fixer, d: Diagnostic) -> CodeAction | None:
    new = d.data.get("replacement")
    expr = d.data.get("expr_range")
    if not new or not isinstance(expr, (list, tuple)) or len(expr) != 4:
        return None
    r = Range.of(*expr)
    span = _span(fixer, r)
    if span is None:
        return None
    doc = fixer.doc
    node = doc.node_at(*span)
    if node is None or node.type != "field_expression":
        return None
    if node.parent is not None and node.parent.type == "pointer_expression" and \
            doc.node_text(node.parent).startswith("&"):
        return None  # an address, not a read
    if not fixer._rvalue(node):
        return None  # a store: BPF_CORE_READ reads
    return CodeAction(f"Read with {new.split('(')[0]}()", QUICKFIX,
                      (TextEdit(fixer.path, r, new),), (d,), True)


_FIXES = {"helper-missing": _guard_helper, "attach-target-missing": _to_kprobe,
          "signature-mismatch": _fix_param, "kernel-pointer-deref": _core_read}
