"""C spellings of BTF types: ``struct task_struct *``, ``char [16]``, ``int (*)(void *, long)``.

Declarators are built the way libbpf's btf_dump does (``btf_dump_emit_type_decl`` and
``btf_dump_emit_type_chain``, libbpf v1.1), so a member declaration reads exactly as
``bpftool btf dump ... format c`` prints it, quirks included (``volatile const int``,
``char * (*f)(void)``, ``int(*)[4]``). :class:`DeclWriter` is that algorithm;
:mod:`bpfls.btf.dump_c` builds whole definitions and headers on top of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.btf.errors import BtfError

if TYPE_CHECKING:
    from bpfls.btf.btf import Btf
    from bpfls.btf.model import Type

# Raw kind numbers (faster to compare than the Kind enum in the hot loops below).
K_VOID = 0
K_INT = 1
K_PTR = 2
K_ARRAY = 3
K_STRUCT = 4
K_UNION = 5
K_ENUM = 6
K_FWD = 7
K_TYPEDEF = 8
K_VOLATILE = 9
K_CONST = 10
K_RESTRICT = 11
K_FUNC = 12
K_FUNC_PROTO = 13
K_VAR = 14
K_DATASEC = 15
K_FLOAT = 16
K_DECL_TAG = 17
K_TYPE_TAG = 18
K_ENUM64 = 19

#: libbpf's btf_is_mod(): the kinds dropped before arrays and function prototypes.
MOD_KINDS = frozenset({K_VOLATILE, K_CONST, K_RESTRICT, K_TYPE_TAG})
#: The kinds a size, alignment or layout walk passes through to the type they refer to.
TYPEDEF_AND_MOD_KINDS = MOD_KINDS | {K_TYPEDEF}
#: Kinds a declarator chain walks through to the referenced type.
_THROUGH = frozenset({K_PTR, K_VOLATILE, K_CONST, K_RESTRICT, K_FUNC_PROTO, K_TYPE_TAG})

#: Longest chain of pointers, modifiers, arrays and prototypes accepted in one declarator.
MAX_DECL_CHAIN = 256
#: Deepest nesting of declarations (parameters of prototypes, inline anonymous types).
MAX_DECL_DEPTH = 200

_PREFIXES = "\t" * 13


def pfx(lvl: int) -> str:
    """libbpf's indentation: one tab a level, at most 13."""
    return _PREFIXES if lvl >= 13 else _PREFIXES[:lvl]


def kind_of(t: Type) -> int:
    """The raw kind number of ``t`` (0 for void)."""
    return (t.info >> 24) & 0x1F


def base_name(t: Type) -> str:
    """The name of a non-declarator type: ``int``, ``struct foo``, ``union {...}``, a typedef."""
    kind = kind_of(t)
    if kind == K_VOID:
        return "void"
    if kind in (K_STRUCT, K_UNION):
        kw = "struct" if kind == K_STRUCT else "union"
        return f"{kw} {t.name}" if t.name else f"{kw} {{...}}"
    if kind in (K_ENUM, K_ENUM64):
        return f"enum {t.name}" if t.name else "enum {...}"
    if kind == K_FWD:
        kw = "union" if t.kflag else "struct"
        return f"{kw} {t.name}"
    return t.name


class DeclWriter:
    """libbpf's declarator emitter, writing into a list of string pieces.

    Subclasses decide how names are spelled (``___N`` de-duplication or real names) and what an
    anonymous struct, union or enum inside a declarator becomes (its inline definition in a
    header; ``struct {...}`` in a short type name).
    """

    def __init__(self, btf: Btf, *, param_names: bool = True) -> None:
        self.btf = btf
        self.param_names = param_names
        self._out: list[str] = []
        self._w = self._out.append
        self._depth = 0

    # -- hooks --------------------------------------------------------------------------------
    def tag_name(self, tid: int, t: Type) -> str:
        """Name of a struct, union, enum or forward declaration."""
        return t.name

    def ident_name(self, tid: int, t: Type) -> str:
        """Name of a typedef."""
        return t.name

    def emit_anon_composite(self, tid: int, t: Type, lvl: int) -> None:
        self._w(base_name(t))

    def emit_anon_enum(self, tid: int, t: Type, lvl: int) -> None:
        self._w(base_name(t))

    # -- output -------------------------------------------------------------------------------
    def take(self) -> str:
        """Everything written so far, and start again."""
        s = "".join(self._out)
        self._out.clear()
        return s

    def _enter(self, tid: int) -> None:
        """Count one more level of nesting (the caller undoes it in a ``finally``)."""
        if self._depth >= MAX_DECL_DEPTH:
            raise BtfError(f"declarations nested too deep (cyclic types?) at [{tid}]",
                           self.btf.path, None, tid)
        self._depth += 1

    # -- libbpf btf_dump_emit_type_decl -------------------------------------------------------
    def emit_type_decl(self, tid: int, fname: str, lvl: int) -> None:
        """Write the declaration of ``fname`` (may be "") of type ``tid``."""
        btf = self.btf
        decls: list[int] = []
        push = decls.append
        while True:
            push(tid)
            if tid == 0:
                break
            t = btf[tid]
            kind = (t.info >> 24) & 0x1F
            if kind in _THROUGH:
                tid = t.type_id
            elif kind == K_ARRAY:
                tid = t.array.type_id
            else:
                break  # terminal kinds; anything else is reported by the chain emitter
            if len(decls) > MAX_DECL_CHAIN:
                raise BtfError(f"type declarator chain too long or cyclic at [{decls[0]}]",
                               btf.path, None, decls[0])
        self._enter(decls[0])
        try:
            self._emit_type_chain(decls, fname, lvl)
        finally:
            self._depth -= 1

    def _emit_mods(self, decls: list[int]) -> None:
        btf = self.btf
        w = self._w
        while decls:
            kind = (btf[decls[-1]].info >> 24) & 0x1F
            if kind == K_VOLATILE:
                w("volatile ")
            elif kind == K_CONST:
                w("const ")
            elif kind == K_RESTRICT:
                w("restrict ")
            else:
                return
            decls.pop()

    def _drop_mods(self, decls: list[int]) -> None:
        btf = self.btf
        while decls and ((btf[decls[-1]].info >> 24) & 0x1F) in MOD_KINDS:
            decls.pop()

    def _emit_name(self, name: str, last_was_ptr: bool) -> None:
        if name and not last_was_ptr:
            self._w(" ")
        self._w(name)

    def _emit_type_chain(self, decls: list[int], fname: str, lvl: int) -> None:
        btf = self.btf
        w = self._w
        last_was_ptr = True
        while decls:
            tid = decls.pop()
            if tid == 0:
                self._emit_mods(decls)
                w("void")
                last_was_ptr = False
                continue
            t = btf[tid]
            kind = (t.info >> 24) & 0x1F
            if kind == K_PTR:
                w("*" if last_was_ptr else " *")
            elif kind == K_INT or kind == K_FLOAT:
                self._emit_mods(decls)
                w(t.name)
            elif kind == K_TYPEDEF:
                self._emit_mods(decls)
                w(self.ident_name(tid, t))
            elif kind == K_STRUCT or kind == K_UNION:
                self._emit_mods(decls)
                if t.name_off == 0:
                    self.emit_anon_composite(tid, t, lvl)
                else:
                    w(("struct " if kind == K_STRUCT else "union ") + self.tag_name(tid, t))
            elif kind == K_ENUM or kind == K_ENUM64:
                self._emit_mods(decls)
                if t.name_off == 0:
                    self.emit_anon_enum(tid, t, lvl)
                else:
                    w("enum " + self.tag_name(tid, t))
            elif kind == K_FWD:
                self._emit_mods(decls)
                w(("union " if t.kflag else "struct ") + self.tag_name(tid, t))
            elif kind == K_CONST:
                w(" const")
            elif kind == K_VOLATILE:
                w(" volatile")
            elif kind == K_RESTRICT:
                w(" restrict")
            elif kind == K_TYPE_TAG:
                self._emit_mods(decls)
                w(f' __attribute__((btf_type_tag("{t.name}")))')
            elif kind == K_ARRAY:
                nelems = t.array.nelems
                # const/volatile on an array itself (a GCC quirk) is dropped, as libbpf does
                self._drop_mods(decls)
                if not decls:
                    self._emit_name(fname, last_was_ptr)
                    w(f"[{nelems}]")
                    return
                multidim = ((btf[decls[-1]].info >> 24) & 0x1F) == K_ARRAY
                if fname and not last_was_ptr:
                    w(" ")
                if not multidim:
                    w("(")
                self._emit_type_chain(decls, fname, lvl)
                if not multidim:
                    w(")")
                w(f"[{nelems}]")
                return
            elif kind == K_FUNC_PROTO:
                self._drop_mods(decls)
                if decls:
                    w(" (")
                    self._emit_type_chain(decls, fname, lvl)
                    w(")")
                else:
                    self._emit_name(fname, last_was_ptr)
                w("(")
                params = t.params
                if not params or (len(params) == 1 and params[0].type_id == 0):
                    w("void)")
                    return
                last = len(params) - 1
                for i, p in enumerate(params):
                    if i:
                        w(", ")
                    if i == last and p.type_id == 0:
                        w("...")
                        break
                    self.emit_type_decl(p.type_id, p.name if self.param_names else "", lvl)
                w(")")
                return
            else:
                # libbpf warns "unexpected type in decl chain" and writes nothing more
                return
            last_was_ptr = kind == K_PTR
        self._emit_name(fname, last_was_ptr)


def type_name(btf: Btf, t: Type | int, name: str = "") -> str:
    """C declaration of ``name`` with type ``t``; with no name, the abstract type name.

    Spelled as libbpf does (``const char *``, ``char * const p``, ``int (*f)(void *, ...)``,
    ``struct foo *(*arr[4])(void)``) but without parameter names, and with the usual space in
    abstract names (``char [16]``, ``int (*)[4]``). Anonymous structs, unions and enums read
    ``struct {...}``. A FUNC or VAR gives its own declaration (named ``name`` or its own name).
    """
    t = btf[t] if isinstance(t, int) else t
    kind = kind_of(t)
    if kind in (K_DATASEC, K_DECL_TAG):
        return f"{base_name(t)} {name}" if name else base_name(t)
    writer = DeclWriter(btf, param_names=False)
    # an abstract name is the declaration of a placeholder name, taken out again
    fname = name or _PLACEHOLDER
    try:
        if kind in (K_FUNC, K_VAR):
            writer.emit_type_decl(t.type_id, name or t.name, 0)
        else:
            writer.emit_type_decl(t.id, fname, 0)
    except RecursionError:
        raise BtfError("type declarator nested too deep", btf.path, None, t.id) from None
    text = writer.take()
    if not name:
        text = text.replace(_PLACEHOLDER, "").rstrip()
    return text


_PLACEHOLDER = "\x00"
