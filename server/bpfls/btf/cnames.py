"""C spellings of BTF types: ``struct task_struct *``, ``char [16]``, ``int (*)(void *, long)``.

Declarators are built the way libbpf's btf_dump does (``btf_dump_emit_type_decl``), so a member
declaration reads exactly as ``bpftool btf dump ... format c`` prints it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.btf.errors import BtfError
from bpfls.btf.kinds import Kind

if TYPE_CHECKING:
    from bpfls.btf.btf import Btf
    from bpfls.btf.model import Type

MAX_DECL_DEPTH = 64

_MOD_WORD = {Kind.CONST: "const", Kind.VOLATILE: "volatile", Kind.RESTRICT: "restrict"}


def base_name(t: Type) -> str:
    """The name of a non-declarator type: ``int``, ``struct foo``, ``union {...}``, a typedef."""
    kind = t.kind
    if kind == Kind.UNKN:
        return "void"
    if kind in (Kind.STRUCT, Kind.UNION):
        kw = "struct" if kind == Kind.STRUCT else "union"
        return f"{kw} {t.name}" if t.name else f"{kw} {{...}}"
    if kind in (Kind.ENUM, Kind.ENUM64):
        return f"enum {t.name}" if t.name else "enum {...}"
    if kind == Kind.FWD:
        kw = "union" if t.kflag else "struct"
        return f"{kw} {t.name}"
    return t.name


def type_name(btf: Btf, t: Type | int, name: str = "") -> str:
    """C declaration of ``name`` with type ``t``; with no name, the abstract type name."""
    t = btf[t] if isinstance(t, int) else t
    return _decl(btf, t, name, 0)


def _decl(btf: Btf, t: Type, inner: str, depth: int) -> str:
    """Wrap declarator ``inner`` in type ``t``; returns the full declaration text."""
    if depth > MAX_DECL_DEPTH:
        raise BtfError(f"type declarator too deep or cyclic at [{t.id}]", btf.path, None, t.id)
    kind = t.kind
    if kind == Kind.PTR:
        target = btf[t.type_id]
        new = "*" + inner
        tk = btf.skip_modifiers(target).kind if target.kind != Kind.UNKN else Kind.UNKN
        if tk in (Kind.ARRAY, Kind.FUNC_PROTO):
            new = f"({new})"
        return _decl(btf, target, new, depth + 1)
    if kind in _MOD_WORD:
        target = btf[t.type_id]
        word = _MOD_WORD[kind]
        if _is_declarator(target):
            return _decl(btf, target, f"{word} {inner}".rstrip(), depth + 1)
        # modifiers of a base type go in front: `const char`
        return f"{word} " + _decl(btf, target, inner, depth + 1)
    if kind == Kind.TYPE_TAG:
        target = btf[t.type_id]
        return _decl(btf, target, inner, depth + 1)
    if kind == Kind.ARRAY:
        a = t.array
        return _decl(btf, btf[a.type_id], f"{inner}[{a.nelems}]", depth + 1)
    if kind == Kind.FUNC_PROTO:
        params = t.params
        if not params:
            plist = "void"
        else:
            parts = []
            for i, p in enumerate(params):
                if i == len(params) - 1 and p.type_id == 0 and not p.name:
                    parts.append("...")
                else:
                    parts.append(_decl(btf, btf[p.type_id], "", depth + 1))
            plist = ", ".join(parts)
        return _decl(btf, btf[t.type_id], f"{inner}({plist})", depth + 1)
    if kind == Kind.FUNC:
        return _decl(btf, btf[t.type_id], inner or t.name, depth + 1)
    if kind == Kind.VAR:
        return _decl(btf, btf[t.type_id], inner or t.name, depth + 1)
    base = base_name(t)
    return f"{base} {inner}" if inner else base


def _is_declarator(t: Type) -> bool:
    return t.kind in (Kind.PTR, Kind.ARRAY, Kind.FUNC_PROTO)
