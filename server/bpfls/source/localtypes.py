"""The program's own types as BTF: split BTF over the primary kernel (or over a ``vmlinux.h``).

Struct, union, enum and typedef definitions anywhere in the translation unit become BTF
records named and laid out as clang would emit them (:mod:`bpfls.source.layout`), continuing the
base's type ids, so one :class:`bpfls.btf.Btf` (``local``) answers for both the program's
types and the kernel types it uses without defining them. Per type it is recorded whether
``preserve_access_index`` applies (the attribute, an enclosing record that has it, or a
``#pragma clang attribute push`` region).

Type expressions are described by small tuples (see :data:`Desc`) so that expression typing
needs no new BTF records: ``("id", tid)``, ``("ptr", d)``, ``("arr", d, n)``,
``("fn", ret, params)``, ``("cv", kind, d)``, ``("unknown", spelling)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.btf import Btf, BtfError, Kind
from bpfls.source.btfwriter import BtfWriter
from bpfls.source.cparse import ENUM_BASE_RE, TYPEOF_PLACEHOLDER
from bpfls.source.layout import FieldSpec, layout
from bpfls.source.macros import Expander, MacroDef
from bpfls.source.model import LocalTypeInfo, SourceDiagnostic
from bpfls.source.positions import Range
from bpfls.source.ppexpr import ConstEval, EvalError, parse_int_literal
from bpfls.source.pptokens import IDENT, PUNCT, Tok, matching_paren, tokenize

if TYPE_CHECKING:
    from collections.abc import Callable

    from tree_sitter import Node

    from bpfls.source.preprocess import FileUnit

Desc = tuple
UNKNOWN: Desc = ("unknown", "?")
VOID: Desc = ("id", 0)

# clang's BTF names for the C base types: spelling words → (name, size, encoding or float)
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
_BASE_TYPES = {
    "char": ("char", 1, INT_SIGNED),
    "signed char": ("signed char", 1, INT_SIGNED),
    "unsigned char": ("unsigned char", 1, 0),
    "short": ("short", 2, INT_SIGNED),
    "unsigned short": ("unsigned short", 2, 0),
    "int": ("int", 4, INT_SIGNED),
    "unsigned int": ("unsigned int", 4, 0),
    "long": ("long", 8, INT_SIGNED),
    "unsigned long": ("unsigned long", 8, 0),
    "long long": ("long long", 8, INT_SIGNED),
    "unsigned long long": ("unsigned long long", 8, 0),
    "_Bool": ("_Bool", 1, INT_BOOL),
    "__int128": ("__int128", 16, INT_SIGNED),
    "unsigned __int128": ("unsigned __int128", 16, 0),
    "float": ("float", 4, None),
    "double": ("double", 8, None),
    "long double": ("long double", 8, None),
}

#: typedef names every BPF program can use even when the header defining them is not read
FALLBACK_TYPEDEFS = {
    "__u8": "unsigned char", "__s8": "signed char", "__u16": "unsigned short",
    "__s16": "short", "__u32": "unsigned int", "__s32": "int", "__u64": "unsigned long long",
    "__s64": "long long", "u8": "unsigned char", "s8": "signed char", "u16": "unsigned short",
    "s16": "short", "u32": "unsigned int", "s32": "int", "u64": "unsigned long long",
    "s64": "long long", "__be16": "unsigned short", "__be32": "unsigned int",
    "__be64": "unsigned long long", "__le16": "unsigned short", "__le32": "unsigned int",
    "__le64": "unsigned long long", "__wsum": "unsigned int", "__sum16": "unsigned short",
    "size_t": "unsigned long", "ssize_t": "long", "ptrdiff_t": "long",
    "intptr_t": "long", "uintptr_t": "unsigned long", "bool": "_Bool", "pid_t": "int",
    "uid_t": "unsigned int", "gid_t": "unsigned int", "int8_t": "signed char",
    "uint8_t": "unsigned char", "int16_t": "short", "uint16_t": "unsigned short",
    "int32_t": "int", "uint32_t": "unsigned int", "int64_t": "long", "uint64_t": "unsigned long",
    "__kernel_size_t": "unsigned long", "__kernel_pid_t": "int", "umode_t": "unsigned short",
    "__u128": "unsigned __int128", "__s128": "__int128", "gfp_t": "unsigned int",
    "sector_t": "unsigned long long", "dev_t": "unsigned int", "loff_t": "long long",
    "atomic_long_t": None, "__builtin_va_list": None,
}

_QUALIFIERS = {"const": Kind.CONST, "volatile": Kind.VOLATILE, "restrict": Kind.RESTRICT,
               "__restrict": Kind.RESTRICT, "__restrict__": Kind.RESTRICT,
               "__volatile__": Kind.VOLATILE, "__const": Kind.CONST}

_CONTAINERS = frozenset({
    "translation_unit", "declaration", "type_definition", "struct_specifier", "union_specifier",
    "field_declaration_list", "field_declaration", "function_definition", "compound_statement",
    "declaration_list", "linkage_specification", "if_statement", "else_clause", "for_statement",
    "while_statement", "do_statement", "switch_statement", "case_statement",
    "labeled_statement", "ERROR", "enum_specifier", "expression_statement",
    "parameter_list", "parameter_declaration", "init_declarator", "function_declarator",
    "pointer_declarator", "attributed_statement"})


class Rec:
    __slots__ = ("kind", "name", "ref", "size", "align", "members", "values", "signed",
                 "nelems", "params", "encoding", "union", "done", "index")

    def __init__(self, kind: int, name: str = "", ref: int = 0) -> None:
        self.kind = kind
        self.name = name
        self.ref = ref
        self.size = 0
        self.align = 1
        self.members: list[tuple[str, int, int, int]] = []
        self.values: list[tuple[str, int]] = []
        self.signed = False
        self.nelems = 0
        self.params: list[tuple[str, int]] = []
        self.encoding = 0
        self.union = False
        self.done = True
        self.index = 0


@dataclass
class EnumeratorInfo:
    value: int
    type_id: int  # the enum
    index: int
    local: bool


class LocalTypes:
    """Build the program's types; afterwards answer name lookups for expression typing."""

    def __init__(self, base: Btf | None, macros: dict[str, MacroDef],
                 diagnostics: list[SourceDiagnostic] | None = None,
                 base_pai: bool = False) -> None:
        self.base = base
        self.macros = macros
        self.diagnostics = diagnostics if diagnostics is not None else []
        self.base_pai = base_pai
        self.start_id = base.end_id if base is not None else 1
        self.recs: list[Rec] = []
        self.tags: dict[tuple[str, str], int] = {}  # ("struct", "foo") → local id
        self.typedefs: dict[str, int] = {}
        self.enumerators: dict[str, EnumeratorInfo] = {}
        self.pai: set[int] = set()
        self.info: dict[int, LocalTypeInfo] = {}
        self._tag_nodes: dict[tuple[str, str], tuple[Node, FileUnit]] = {}
        self._typedef_nodes: dict[str, tuple[Node, Node, FileUnit]] = {}
        self._enumerator_nodes: dict[str, tuple[Node, FileUnit]] = {}
        self._node_ids: dict[tuple[str, int, int], int] = {}
        self._derived: dict[tuple, int] = {}
        self._type_id_args: list[list[Tok]] = []  # bpf_core_type_id_local(type) arguments
        self._type_id_re: re.Pattern[bytes] | None = None
        self._ints: dict[str, int] = {}
        self._lazy: dict[int, tuple[Node, FileUnit]] = {}
        self._pai_memo: dict[tuple[str, int, int], bool] = {}
        self._expander = Expander(macros)
        self.frozen = False
        self.btf: Btf | None = None

    # -- records ---------------------------------------------------------------------------
    def _new(self, rec: Rec) -> int:
        self.recs.append(rec)
        return self.start_id + len(self.recs) - 1

    def rec(self, tid: int) -> Rec | None:
        i = tid - self.start_id
        return self.recs[i] if 0 <= i < len(self.recs) else None

    def int_type(self, spelling: str) -> int:
        tid = self._ints.get(spelling)
        if tid is None:
            if self.frozen:
                return 0
            name, size, enc = _BASE_TYPES[spelling]
            if enc is None:
                r = Rec(Kind.FLOAT, name)
            else:
                r = Rec(Kind.INT, name)
                r.encoding = enc
            r.size = size
            r.align = min(size, 16) if spelling.endswith("__int128") else min(size, 8)
            tid = self._new(r)
            self._ints[spelling] = tid
        return tid

    def _array_index_type(self) -> int:
        tid = self._ints.get("__ARRAY_SIZE_TYPE__")
        if tid is None:
            r = Rec(Kind.INT, "__ARRAY_SIZE_TYPE__")
            r.size = 4
            r.align = 4
            tid = self._new(r)
            self._ints["__ARRAY_SIZE_TYPE__"] = tid
        return tid

    # -- sizes -----------------------------------------------------------------------------
    def size_align(self, tid: int) -> tuple[int, int]:
        for _ in range(64):
            r = self.rec(tid)
            if r is None:
                if tid == 0 or self.base is None:
                    return 0, 1
                try:
                    return self.base.size_of(tid), self.base.align_of(tid)
                except (BtfError, TypeError):
                    return 0, 1
            k = r.kind
            if not r.done:
                self._ensure(tid)
            if k in (Kind.INT, Kind.FLOAT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64):
                return r.size, r.align
            if k == Kind.PTR:
                return 8, 8
            if k == Kind.ARRAY:
                s, a = self.size_align(r.ref)
                return s * r.nelems, a
            if k in (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
                tid = r.ref
                continue
            return 0, 1
        return 0, 1

    def desc_size(self, d: Desc) -> int | None:
        k = d[0]
        if k == "id":
            return self.size_align(d[1])[0] if d[1] else 1
        if k == "ptr":
            return 8
        if k == "arr":
            s = self.desc_size(d[1])
            return None if s is None else s * d[2]
        if k == "cv":
            return self.desc_size(d[2])
        if k == "fn":
            return 1
        return None

    def desc_align(self, d: Desc) -> int:
        k = d[0]
        if k == "id":
            return self.size_align(d[1])[1] if d[1] else 1
        if k == "ptr":
            return 8
        if k in ("arr",):
            return self.desc_align(d[1])
        if k == "cv":
            return self.desc_align(d[2])
        return 1

    # -- collection ------------------------------------------------------------------------
    def collect(self, unit: FileUnit, root: Node) -> None:
        """Phase 1: find the definitions in one file (in order). What a text holds is found
        once (headers are read again by every analysis)."""
        if self._type_id_re is None:
            self._type_id_re = _type_id_local_re(self.macros)
        code = bytes(unit.code)
        key = (unit.path, code, self._type_id_re.pattern)
        hit = _COLLECTED.get(key)
        if hit is None:
            hit = (_definitions(root), _type_id_local_args(code, self._type_id_re)
                   if self._type_id_re.search(code) is not None else [])
            if len(_COLLECTED) > 256:
                _COLLECTED.clear()
            _COLLECTED[key] = hit
        found: list[tuple[Node, FileUnit]] = []
        for ev in hit[0]:
            what = ev[0]
            if what == "tag":
                if ev[1] not in self._tag_nodes:
                    self._tag_nodes[ev[1]] = (ev[2], unit)
            elif what == "enumerator":
                self._enumerator_nodes.setdefault(ev[1], (ev[2], unit))
            elif what == "typedef":
                self._typedef_nodes.setdefault(ev[1], (ev[2], ev[3], unit))
            else:
                found.append((ev[1], unit))
        self._pending = getattr(self, "_pending", [])
        self._pending.extend(found)
        self._type_id_args.extend(hit[1])

    def build(self, more: Callable[[LocalTypes], None] | None = None) -> Btf:
        """Phase 2: build every collected definition, then write the split BTF. ``more``
        makes the types the analysis will want ids for (:meth:`made_id`) before it is
        written."""
        for node, unit in getattr(self, "_pending", []):
            try:
                if node.type == "type_definition":
                    for d in node.children_by_field_name("declarator"):
                        nm = _declarator_name(d)
                        if nm is not None:
                            self.typedef_id(_text(nm))
                else:
                    self.record_for_node(node, unit)
            except RecursionError:  # pragma: no cover - absurd nesting
                pass
        self._pending = []
        while self._lazy:
            self._ensure(next(iter(self._lazy)))
        # the qualified, pointer and array types clang writes for bpf_core_type_id_local()
        for toks in self._type_id_args:
            d = self.desc_from_tokens(toks)
            if d is not None and d[0] in ("cv", "ptr", "arr"):
                self.type_id_local(d)
        self._type_id_args = []
        # expression typing after the build needs every base type to have an id already
        for spelling in _BASE_TYPES:
            self.int_type(spelling)
        if more is not None:
            more(self)
        self.btf = self._write()
        self.frozen = True
        return self.btf

    def _write(self) -> Btf:
        w = BtfWriter(id_start=self.start_id,
                      str_start=self.base.end_str_off if self.base is not None else 0)
        for r in self.recs:
            k = r.kind
            if k == Kind.INT:
                w.int_(r.name, r.size, r.encoding)
            elif k == Kind.FLOAT:
                w.float_(r.name, r.size)
            elif k == Kind.PTR:
                w.ptr(r.ref)
            elif k == Kind.ARRAY:
                w.array(r.ref, r.index, r.nelems)
            elif k in (Kind.STRUCT, Kind.UNION):
                w.composite(k == Kind.UNION, r.name, r.size, r.members)
            elif k in (Kind.ENUM, Kind.ENUM64):
                w.enum(r.name, r.size, r.values, r.signed)
            elif k == Kind.FWD:
                w.fwd(r.name, r.union)
            elif k == Kind.TYPEDEF:
                w.typedef(r.name, r.ref)
            elif k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
                w.modifier(k, r.ref)
            elif k == Kind.FUNC_PROTO:
                w.func_proto(r.ref, r.params)
            else:  # pragma: no cover
                w.int_("int", 4, INT_SIGNED)
        data = w.build()
        self.raw = data
        return Btf(data, base=self.base, path="<program types>", origin="source")

    # -- name resolution -----------------------------------------------------------------
    def tag_id(self, ns: str, name: str, *, create_fwd: bool = True) -> int | None:
        """A struct/union/enum by tag: the program's definition, else the base's, else a FWD."""
        key = (ns, name)
        tid = self.tags.get(key)
        if tid is not None:
            return tid
        node = self._tag_nodes.get(key)
        if node is not None and not self.frozen:
            return self._alloc_record(*node)
        if self.base is not None:
            kinds = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,),
                     "enum": (Kind.ENUM, Kind.ENUM64)}[ns]
            for t in self.base.find_all(name):
                if t.kind in kinds:
                    return t.id
            if ns != "enum":
                for t in self.base.find_all(name):
                    if t.kind == Kind.FWD and (t.kflag == (ns == "union")):
                        return t.id
        if self.frozen or not create_fwd:
            return None
        r = Rec(Kind.FWD, name)
        r.union = ns == "union"
        r.size = 0
        tid = self._new(r)
        self.tags[key] = tid
        return tid

    def tag_definition(self, ns: str, name: str) -> tuple[Node, FileUnit] | None:
        """Where the program defines struct/union/enum ``name`` (its specifier node)."""
        return self._tag_nodes.get((ns, name))

    def typedef_id(self, name: str) -> int | None:
        tid = self.typedefs.get(name)
        if tid is not None:
            return tid
        node = self._typedef_nodes.get(name)
        if node is not None and not self.frozen:
            ty, decl, unit = node
            r = Rec(Kind.TYPEDEF, name)
            tid = self._new(r)
            self.typedefs[name] = tid
            base_desc = self.desc_of_type(ty, unit, decl.parent)
            _, desc, _ = self.apply_declarator(base_desc, decl, unit)
            r.ref = self.materialize(desc)
            self._note(tid, name, "typedef", unit, decl, self._desc_pai(desc))
            return tid
        if self.base is not None:
            t = self.base.find(name, Kind.TYPEDEF)
            if t is not None:
                return t.id
        return None

    def fallback_typedef(self, name: str) -> int | None:
        """A typedef every BPF program can use (``__u32``, ``size_t``...) made locally."""
        if name not in FALLBACK_TYPEDEFS or self.frozen:
            return self.typedefs.get(name)
        spelling = FALLBACK_TYPEDEFS[name]
        if spelling is None:
            return None
        r = Rec(Kind.TYPEDEF, name, self.int_type(spelling))
        tid = self._new(r)
        self.typedefs[name] = tid
        return tid

    def enumerator(self, name: str) -> EnumeratorInfo | None:
        e = self.enumerators.get(name)
        if e is not None:
            return e
        node = self._enumerator_nodes.get(name)
        if node is not None and not self.frozen:
            self.record_for_node(*node)
            e = self.enumerators.get(name)
            if e is not None:
                return e
        if self.base is not None:
            for tid, i in self.base.enumerators_named(name):
                try:
                    return EnumeratorInfo(self.base[tid].values[i].value, tid, i, False)
                except (BtfError, TypeError, IndexError):
                    continue
        return None

    # -- descriptions of type expressions --------------------------------------------------
    def desc_of_type(self, node: Node | None, unit: FileUnit, decl_parent: Node | None = None,
                     expr_type=None) -> Desc:
        """The type written by a specifier node (plus the qualifiers next to it)."""
        if node is None:
            return UNKNOWN
        d = self._specifier(node, unit, expr_type)
        if decl_parent is not None:
            for c in decl_parent.children:
                if c.type == "type_qualifier":
                    k = _QUALIFIERS.get(_text(c))
                    if k is not None:
                        d = ("cv", k, d)
        return d

    def _specifier(self, node: Node, unit: FileUnit, expr_type=None) -> Desc:
        t = node.type
        if t in ("struct_specifier", "union_specifier", "enum_specifier"):
            ns = t.split("_")[0]
            body = node.child_by_field_name("body")
            name_node = node.child_by_field_name("name")
            if body is not None:
                tid = self.record_for_node(node, unit) if not self.frozen else \
                    self._node_ids.get(_node_key(node, unit))
                return ("id", tid) if tid is not None else ("unknown", f"{ns} <anon>")
            if name_node is None:
                return UNKNOWN
            name = _text(name_node)
            tid = self.tag_id(ns, name)
            return ("id", tid) if tid is not None else ("unknown", f"{ns} {name}")
        if t == "primitive_type":
            return self.primitive(_text(node))
        if t == "sized_type_specifier":
            words = []
            for c in node.children:
                words.append(_text(c))
            return self.primitive(" ".join(words))
        if t == "type_identifier":
            text = _text(node)
            if text.startswith(TYPEOF_PLACEHOLDER):
                return self._typeof(node, unit, expr_type)
            return self.primitive(text)
        if t == "macro_type_specifier":
            # typeof(expr) / __typeof__(type)
            inner = node.child_by_field_name("type")
            if inner is not None:
                d = self.desc_of_type_descriptor(inner, unit)
                if d[0] != "unknown":
                    return d
                if expr_type is not None:
                    return expr_type(inner)
            return UNKNOWN
        if t == "type_descriptor":
            return self.desc_of_type_descriptor(node, unit)
        return UNKNOWN

    def _typeof(self, node: Node, unit: FileUnit, expr_type=None) -> Desc:
        """``typeof(...)`` as a type (the parser read a placeholder name,
        :func:`bpfls.source.cparse.parser_text`): the expression's type, from ``expr_type``
        (which reads the text where the node is), else only a type name inside."""
        if expr_type is not None:
            return expr_type(node)
        text = bytes(unit.code[node.start_byte:node.end_byte])
        toks = tokenize(text, node.start_byte)
        if len(toks) < 4 or toks[0].text not in _TYPEOF or toks[1].text != "(" or \
                toks[-1].text != ")":
            return ("unknown", "typeof")
        d = self.desc_from_tokens(toks[2:-1])
        return d if d is not None else ("unknown", text.decode("utf-8", "replace"))

    def primitive(self, spelling: str) -> Desc:
        words = spelling.split()
        if not words:
            return UNKNOWN
        if len(words) == 1:
            w = words[0]
            if w == "void":
                return VOID
            if w in _BASE_TYPES:
                return ("id", self.int_type(w))
            if w in ("unsigned", "signed"):
                return ("id", self.int_type("unsigned int" if w == "unsigned" else "int"))
            tid = self.typedef_id(w)
            if tid is None:
                tid = self.fallback_typedef(w)
            if tid is not None:
                return ("id", tid)
            return ("unknown", w)
        unsigned = "unsigned" in words
        longs = words.count("long")
        if "char" in words:
            key = "unsigned char" if unsigned else ("signed char" if "signed" in words
                                                    else "char")
        elif "short" in words:
            key = "unsigned short" if unsigned else "short"
        elif "double" in words:
            key = "long double" if longs else "double"
        elif "__int128" in words:
            key = "unsigned __int128" if unsigned else "__int128"
        elif longs >= 2:
            key = "unsigned long long" if unsigned else "long long"
        elif longs == 1:
            key = "unsigned long" if unsigned else "long"
        elif "float" in words:
            key = "float"
        else:
            key = "unsigned int" if unsigned else "int"
        return ("id", self.int_type(key))

    def desc_of_type_descriptor(self, node: Node, unit: FileUnit, expr_type=None) -> Desc:
        ty = node.child_by_field_name("type")
        d = self.desc_of_type(ty, unit, node, expr_type)
        decl = node.child_by_field_name("declarator")
        if decl is not None:
            _, d, _ = self.apply_declarator(d, decl, unit)
        return d

    def apply_declarator(self, d: Desc, decl: Node | None,
                         unit: FileUnit) -> tuple[str | None, Desc, Node | None]:
        """Wrap ``d`` by the declarator; returns (declared name, type, name node)."""
        for _ in range(64):
            if decl is None:
                return None, d, None
            t = decl.type
            if t in ("identifier", "field_identifier", "type_identifier"):
                return _text(decl), d, decl
            if t in ("pointer_declarator", "abstract_pointer_declarator"):
                d = ("ptr", d)
                for c in decl.children:
                    if c.type == "type_qualifier":
                        k = _QUALIFIERS.get(_text(c))
                        if k is not None:
                            d = ("cv", k, d)
                decl = decl.child_by_field_name("declarator")
                continue
            if t in ("array_declarator", "abstract_array_declarator"):
                size = decl.child_by_field_name("size")
                n = 0
                if size is not None:
                    v = self.const_node(size, unit)
                    n = v if v is not None and v >= 0 else 0
                d = ("arr", d, n)
                decl = decl.child_by_field_name("declarator")
                continue
            if t in ("function_declarator", "abstract_function_declarator"):
                params = []
                pl = decl.child_by_field_name("parameters")
                if pl is not None:
                    for p in pl.named_children:
                        if p.type == "parameter_declaration":
                            pd = self.desc_of_type(p.child_by_field_name("type"), unit, p)
                            pname, pd, _ = self.apply_declarator(
                                pd, p.child_by_field_name("declarator"), unit)
                            if pd == VOID and pname is None:
                                continue
                            params.append((pname or "", pd))
                        elif p.type == "variadic_parameter":
                            params.append(("", None))
                d = ("fn", d, tuple(params))
                decl = decl.child_by_field_name("declarator")
                continue
            if t in ("parenthesized_declarator", "abstract_parenthesized_declarator",
                     "attributed_declarator"):
                inner = [c for c in decl.named_children
                         if c.type not in ("attribute_specifier", "attribute_declaration",
                                           "ms_call_modifier", "type_qualifier")]
                decl = inner[0] if inner else None
                continue
            if t == "init_declarator":
                decl = decl.child_by_field_name("declarator")
                continue
            return None, d, None
        return None, d, None

    def materialize(self, d: Desc) -> int:
        """A BTF id for a description (creating pointer/array/modifier records as needed)."""
        k = d[0]
        if k == "id":
            return d[1]
        if k == "unknown":
            return self.int_type("int")
        if self.frozen:  # only the records made before the BTF was written
            return self._made(d)
        if k == "ptr":
            inner = self.materialize(d[1])
            key = ("ptr", inner)
            tid = self._derived.get(key)
            if tid is None:
                tid = self._new(Rec(Kind.PTR, "", inner))
                self._derived[key] = tid
            return tid
        if k == "arr":
            inner = self.materialize(d[1])
            key = ("arr", inner, d[2])
            tid = self._derived.get(key)
            if tid is None:
                r = Rec(Kind.ARRAY, "", inner)
                r.nelems = d[2]
                r.index = self._array_index_type()
                tid = self._new(r)
                self._derived[key] = tid
            return tid
        if k == "cv":
            inner = self.materialize(d[2])
            key = ("cv", d[1], inner)
            tid = self._derived.get(key)
            if tid is None:
                tid = self._new(Rec(d[1], "", inner))
                self._derived[key] = tid
            return tid
        if k == "fn":
            ret = self.materialize(d[1])
            params = [(n, self.materialize(p) if p is not None else 0) for n, p in d[2]]
            key = ("fn", ret, tuple(params))
            tid = self._derived.get(key)
            if tid is None:
                r = Rec(Kind.FUNC_PROTO, "", ret)
                r.params = [("", p) for _, p in params]
                tid = self._new(r)
                self._derived[key] = tid
            return tid
        return self.int_type("int")

    def _made(self, d: Desc) -> int:
        """The id :meth:`materialize` gave ``d`` (0: none was made)."""
        k = d[0]
        if k == "id":
            return d[1]
        if k not in ("ptr", "arr", "cv"):
            return 0
        inner = self._made(d[2] if k == "cv" else d[1])
        if not inner:
            return 0
        key = ("ptr", inner) if k == "ptr" else ("arr", inner, d[2]) if k == "arr" else \
            ("cv", d[1], inner)
        return self._derived.get(key, 0)

    def made_id(self, d: Desc | None) -> int | None:
        """The id of ``d`` in the written BTF (``0``: void), ``None`` when no record was made
        for it (unknown types; pointers, qualifiers, arrays and prototypes nothing asked
        for before the BTF was written)."""
        if d is None:
            return None
        k = d[0]
        if k == "id":
            return d[1]
        if k in ("ptr", "arr", "cv"):
            inner = self.made_id(d[2] if k == "cv" else d[1])
            if inner is None:
                return None
            key = ("ptr", inner) if k == "ptr" else ("arr", inner, d[2]) if k == "arr" else \
                ("cv", d[1], inner)
            return self._derived.get(key)
        if k == "fn":
            ret = self.made_id(d[1])
            params = []
            for n, p in d[2]:
                pid = self.made_id(p) if p is not None else 0
                if ret is None or pid is None:
                    return None
                params.append((n, pid))
            return self._derived.get(("fn", ret, tuple(params)))
        return None

    def type_id_local(self, d: Desc) -> int:
        """The id of ``d`` as ``__builtin_btf_type_id(..., BPF_TYPE_ID_LOCAL)`` names it: the
        type itself, qualifiers in clang's order (const outermost, then volatile, restrict);
        0 when the program's BTF has no such record."""
        return self.materialize(canonical_qualifiers(d))

    # -- records from source -------------------------------------------------------------
    def record_for_node(self, node: Node, unit: FileUnit) -> int | None:
        """The id of a struct/union/enum definition, built (laid out) before returning."""
        tid = self._alloc_record(node, unit)
        if tid is not None:
            self._ensure(tid)
        return tid

    def _alloc_record(self, node: Node, unit: FileUnit) -> int | None:
        """The id of a definition; its members are filled in only when needed, so that
        pointers between records never require a layout (cycles through pointers are fine)."""
        key = _node_key(node, unit)
        tid = self._node_ids.get(key)
        if tid is not None:
            return tid
        if self.frozen:
            return None
        ns = node.type.split("_")[0]
        name_node = node.child_by_field_name("name")
        name = _text(name_node) if name_node is not None else ""
        if name:
            existing = self.tags.get((ns, name))
            if existing is not None:
                r = self.rec(existing)
                if r is not None and r.kind != Kind.FWD:
                    self._node_ids[key] = existing
                    return existing
        if ns == "enum":
            return self._build_enum(node, unit, name, key)
        r = Rec(Kind.UNION if ns == "union" else Kind.STRUCT, name)
        r.done = False
        fwd = self.tags.get((ns, name)) if name else None
        if fwd is not None and self.rec(fwd) is not None:
            tid = fwd  # complete the forward declaration in place
            self.recs[tid - self.start_id] = r
        else:
            tid = self._new(r)
        if name:
            self.tags[(ns, name)] = tid
        self._node_ids[key] = tid
        self._lazy[tid] = (node, unit)
        return tid

    def _ensure(self, tid: int) -> None:
        job = self._lazy.pop(tid, None)
        if job is None:
            return
        node, unit = job
        r = self.rec(tid)
        assert r is not None
        ns = node.type.split("_")[0]
        name_node = node.child_by_field_name("name")
        attrs = self._attributes(node, unit)
        pai = self._record_pai(node, unit)
        if pai:
            self.pai.add(tid)
        packed = "packed" in attrs
        aligned = _aligned_value(attrs)
        self._note(tid, r.name, ns, unit, name_node or node, pai)
        fields = self._fields(node.child_by_field_name("body"), unit)
        placed, size, align = layout(fields, union=(ns == "union"), packed=packed,
                                     aligned=aligned)
        r.members = [(p.name, p.type_id, p.bit_offset, p.bitfield_size) for p in placed]
        r.size = size
        r.align = align
        r.done = True

    def _record_pai(self, node: Node, unit: FileUnit) -> bool:
        key = _node_key(node, unit)
        v = self._pai_memo.get(key)
        if v is not None:
            return v
        v = "preserve_access_index" in self._attributes(node, unit) or \
            unit.pai_at(node.start_point[0])
        if not v:
            p = node.parent
            while p is not None:
                if p.type in ("struct_specifier", "union_specifier"):
                    v = self._record_pai(p, unit)
                    break
                if p.type in ("function_definition", "translation_unit"):
                    break
                p = p.parent
        self._pai_memo[key] = v
        return v

    def _attributes(self, node: Node, unit: FileUnit) -> str:
        """Text of the attributes on a record or enum definition (written or masked macros)."""
        parts = []
        for c in node.children:
            if c.type in ("attribute_specifier", "attribute_declaration", "ms_declspec_modifier"):
                parts.append(_text(c))
        # attributes written after the closing brace land outside the node in some trees
        nxt = node.next_sibling
        while nxt is not None and nxt.type in ("attribute_specifier", "attribute_declaration"):
            parts.append(_text(nxt))
            nxt = nxt.next_sibling
        if unit.attrs:
            code = unit.code
            end = node.end_byte
            n = len(code)
            while end < n and code[end] in b" \t\r\n":
                end += 1
            for off, text in unit.attrs:
                if node.start_byte <= off < end:
                    parts.append(text)
        return " ".join(parts)

    def _fields(self, body: Node | None, unit: FileUnit) -> list[FieldSpec]:
        out: list[FieldSpec] = []
        if body is None:
            return out
        for fd in body.named_children:
            if fd.type != "field_declaration":
                continue
            ty = fd.child_by_field_name("type")
            if ty is None:
                continue
            base = self.desc_of_type(ty, unit, fd)
            fattrs = " ".join(_text(c) for c in fd.children
                              if c.type in ("attribute_specifier", "attribute_declaration"))
            items = _field_declarators(fd)
            if not items:
                # anonymous struct/union member (or a stray type)
                if ty.type in ("struct_specifier", "union_specifier") and \
                        ty.child_by_field_name("body") is not None:
                    tid = self.materialize(base)
                    s, a = self.size_align(tid)
                    out.append(FieldSpec("", tid, s, a))
                continue
            aligned = _aligned_value(fattrs)
            for decl, width_node in items:
                name, d, _ = self.apply_declarator(base, decl, unit) if decl is not None \
                    else (None, base, None)
                tid = self.materialize(d)
                s, a = self.size_align(tid)
                width = None
                if width_node is not None:
                    width = self.const_node(width_node, unit)
                    if width is None or width < 0:
                        width = 0
                out.append(FieldSpec(name or "", tid, s, a, width, aligned, "packed" in fattrs))
        return out

    def _build_enum(self, node: Node, unit: FileUnit, name: str, key) -> int:
        r = Rec(Kind.ENUM, name)
        tid = self._new(r)
        if name:
            self.tags[("enum", name)] = tid
        self._node_ids[key] = tid
        self._note(tid, name, "enum", unit, node.child_by_field_name("name") or node, False)
        body = node.child_by_field_name("body")
        nxt = 0
        values: list[tuple[str, int]] = []
        if body is not None:
            for e in body.named_children:
                if e.type != "enumerator":
                    continue
                nm = e.child_by_field_name("name")
                if nm is None:
                    continue
                val_node = e.child_by_field_name("value")
                if val_node is not None:
                    v = self.const_node(val_node, unit)
                    if v is None:
                        v = nxt
                else:
                    v = nxt
                ename = _text(nm)
                values.append((ename, v))
                self.enumerators.setdefault(ename, EnumeratorInfo(v, tid, len(values) - 1, True))
                nxt = v + 1
        r.values = values
        fixed = self._enum_base(node, unit)
        if fixed is not None:  # C23 ``enum name : type``: clang takes both from the type
            r.size, r.signed = fixed
            r.kind = Kind.ENUM64 if r.size > 4 else Kind.ENUM
            r.align = r.size
            return tid
        r.signed = any(v < 0 for _, v in values)
        big = any(v < -(1 << 31) or v > 0xFFFFFFFF for _, v in values)
        r.kind = Kind.ENUM64 if big else Kind.ENUM
        r.size = 8 if big else 4
        attrs = self._attributes(node, unit)
        if "packed" in attrs and not big:
            hi = max((v for _, v in values), default=0)
            lo = min((v for _, v in values), default=0)
            r.size = 1 if -128 <= lo and hi < 256 else 2 if -32768 <= lo and hi < 65536 else 4
        r.align = r.size
        return tid

    def _enum_base(self, node: Node, unit: FileUnit) -> tuple[int, bool] | None:
        """(size, signed) of an enum definition's fixed underlying type (``enum e : type
        {``, which the parser did not see: :func:`bpfls.source.cparse.parser_text`)."""
        body = node.child_by_field_name("body")
        if body is None:
            return None
        m = ENUM_BASE_RE.match(bytes(unit.code[node.start_byte:body.start_byte + 1]))
        if m is None:
            return None
        s, e = m.span(1)
        text = bytes(unit.code[node.start_byte + s + 1:node.start_byte + e])
        d = self.desc_from_tokens(tokenize(text, node.start_byte + s + 1))
        if d is None or d[0] != "id":
            return None
        tid = d[1]
        for _ in range(64):  # through typedefs and qualifiers to the integer type
            r = self.rec(tid)
            if r is not None:
                if r.kind == Kind.INT:
                    return r.size, bool(r.encoding & 1)
                if r.kind not in (Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.TYPE_TAG):
                    return None
                tid = r.ref
                continue
            if self.base is None or not tid:
                return None
            try:
                t = self.base.resolve(tid)
            except BtfError:
                return None
            if t.kind != Kind.INT:
                return None
            return self.base.size_of(t), bool(t.int_encoding & 1)
        return None

    def _note(self, tid: int, name: str, kind: str, unit: FileUnit, node: Node,
              pai: bool) -> None:
        self.info[tid] = LocalTypeInfo(tid, name, kind, unit.path, _range(node), pai)

    def _desc_pai(self, d: Desc) -> bool:
        while d[0] == "cv":
            d = d[2]
        return d[0] == "id" and d[1] in self.pai

    # -- constants -------------------------------------------------------------------------
    def const_node(self, node: Node, unit: FileUnit) -> int | None:
        if node.type == "number_literal":
            try:
                return parse_int_literal(_text(node))[0]
            except EvalError:
                return None
        return self.const_tokens(tokenize(node.text or b"", node.start_byte))

    def const_tokens(self, toks: list[Tok]) -> int | None:
        try:
            toks = self._expander.expand(toks)
            return ConstEval(toks, ident=self._ident_value, sizeof=self._sizeof_tokens,
                             is_type=self.is_type_tokens).run()
        except (EvalError, RecursionError, IndexError, ValueError):
            return None

    def _ident_value(self, name: str) -> int | None:
        e = self.enumerator(name)
        return e.value if e is not None else None

    def _sizeof_tokens(self, toks: list[Tok]) -> int | None:
        d = self.desc_from_tokens(toks)
        if d is None or d[0] == "unknown":
            return None
        return self.desc_size(d)

    # -- type names written as tokens (macro arguments, sizeof) ----------------------------
    def is_type_tokens(self, toks: list[Tok]) -> bool:
        if not toks or toks[0].kind != IDENT:
            return False
        w = toks[0].text
        if w in ("struct", "union", "enum", "const", "volatile", "unsigned", "signed",
                 "typeof", "__typeof__") or w in _BASE_TYPES or w == "void":
            return True
        return w in self.typedefs or w in self._typedef_nodes or w in FALLBACK_TYPEDEFS or (
            self.base is not None and self.base.find(w, Kind.TYPEDEF) is not None)

    def desc_from_tokens(self, toks: list[Tok]) -> Desc | None:
        """A type name written as tokens (``struct foo *``, ``const foo_t``, ``unsigned long``).

        ``None`` when the tokens are not a type name."""
        i = 0
        n = len(toks)
        quals: list[int] = []
        words: list[str] = []
        d: Desc | None = None
        while i < n:
            t = toks[i]
            if t.kind != IDENT:
                break
            w = t.text
            if w in _QUALIFIERS:
                quals.append(_QUALIFIERS[w])
                i += 1
                continue
            if w in ("struct", "union", "enum"):
                if i + 1 < n and toks[i + 1].kind == IDENT:
                    tid = self.tag_id(w, toks[i + 1].text)
                    d = ("id", tid) if tid is not None else ("unknown",
                                                             f"{w} {toks[i + 1].text}")
                    i += 2
                    break
                return None
            if w in ("unsigned", "signed", "short", "long", "int", "char", "float", "double",
                     "_Bool", "__int128", "void"):
                words.append(w)
                i += 1
                continue
            if not words:
                tid = self.typedef_id(w)
                if tid is None:
                    tid = self.fallback_typedef(w)
                if tid is None:
                    return None if not quals else ("unknown", w)
                d = ("id", tid)
                i += 1
            break
        if d is None:
            if not words:
                return None
            d = self.primitive(" ".join(words))
        for q in quals:
            d = ("cv", q, d)
        while i < n:
            t = toks[i]
            if t.text == "*":
                d = ("ptr", d)
            elif t.kind == IDENT and t.text in _QUALIFIERS:
                d = ("cv", _QUALIFIERS[t.text], d)
            elif t.text == "[":
                j = i + 1
                depth = 1
                while j < n and depth:
                    if toks[j].text == "[":
                        depth += 1
                    elif toks[j].text == "]":
                        depth -= 1
                    j += 1
                v = self.const_tokens(toks[i + 1:j - 1]) if j - 1 > i + 1 else 0
                d = ("arr", d, v or 0)
                i = j
                continue
            elif t.kind == PUNCT and t.text in "()":
                pass
            else:
                return None
            i += 1
        return d


# -- helpers --------------------------------------------------------------------------------

#: (path, text, pattern of the type id uses) → what :meth:`LocalTypes.collect` finds there: the
#: definitions (:func:`_definitions`) and the ``bpf_core_type_id_local()`` type arguments
_COLLECTED: dict[tuple[str, bytes, bytes], tuple[list[tuple], list[list[Tok]]]] = {}


def _definitions(root: Node) -> list[tuple]:
    """The definitions of one file's tree in order: ``("tag", (ns, name), node)``,
    ``("enumerator", name, enum node)``, ``("typedef", name, type node, declarator)`` and
    ``("found", node)`` for each definition to build."""
    out: list[tuple] = []
    stack = [root]
    while stack:
        n = stack.pop()
        t = n.type
        if t in ("struct_specifier", "union_specifier", "enum_specifier"):
            body = n.child_by_field_name("body")
            if body is not None:
                name_node = n.child_by_field_name("name")
                if name_node is not None:
                    out.append(("tag", (t.split("_")[0], _text(name_node)), n))
                if t == "enum_specifier":
                    for e in body.named_children:
                        if e.type == "enumerator":
                            nm = e.child_by_field_name("name")
                            if nm is not None:
                                out.append(("enumerator", _text(nm), n))
                out.append(("found", n))
        elif t == "type_definition":
            ty = n.child_by_field_name("type")
            for d in n.children_by_field_name("declarator"):
                name_node = _declarator_name(d)
                if name_node is not None and ty is not None:
                    out.append(("typedef", _text(name_node), ty, d))
            out.append(("found", n))
        if t in _CONTAINERS:
            stack.extend(reversed(n.children))
    return out


_TYPEOF = frozenset({"typeof", "__typeof__", "__typeof"})
#: clang's order of qualifiers, outermost first
_CV_ORDER = (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT)


def canonical_qualifiers(d: Desc) -> Desc:
    """``d`` with each run of qualifiers in clang's order (``const`` outermost)."""
    k = d[0]
    if k == "cv":
        quals: set[int] = set()
        while d[0] == "cv":
            quals.add(d[1])
            d = d[2]
        d = canonical_qualifiers(d)
        for q in reversed(_CV_ORDER):
            if q in quals:
                d = ("cv", q, d)
        return d
    if k == "ptr":
        return ("ptr", canonical_qualifiers(d[1]))
    if k == "arr":
        return ("arr", canonical_qualifiers(d[1]), d[2])
    return d


def _type_id_local_re(macros: dict[str, MacroDef]) -> re.Pattern[bytes]:
    """A use of ``bpf_core_type_id_local(`` or of a macro that expands to one
    (``bpf_obj_new(type)``)."""
    names = {"bpf_core_type_id_local"}
    for _ in range(4):  # macros over macros, a few levels deep
        more = {m.name for m in macros.values()
                if m.name not in names and any(t.text in names for t in m.body)}
        if not more:
            break
        names |= more
    alts = b"|".join(re.escape(n.encode()) for n in sorted(names, key=len, reverse=True))
    return re.compile(rb"(?<![\w$])(?:" + alts + rb")\s*\(")


def _type_id_local_args(code: bytes, pattern: re.Pattern[bytes]) -> list[list[Tok]]:
    """Each argument of each use of ``pattern`` in ``code`` that may name a type
    (``typeof(type)`` unwrapped): the types ``bpf_core_type_id_local()`` may be given."""
    out: list[list[Tok]] = []
    for m in pattern.finditer(code):
        line_end = code.find(b"\n", m.end())
        toks = tokenize(code[m.end() - 1:line_end if line_end >= 0 else len(code)])
        close = matching_paren(toks, 0)
        if close < 0:
            continue
        depth = 0
        start = 1
        for i in range(1, close + 1):
            tx = toks[i].text
            if tx in ("(", "["):
                depth += 1
            elif tx in (")", "]") and i < close:
                depth -= 1
            elif (tx == "," and depth == 0) or i == close:
                arg = toks[start:i]
                if len(arg) >= 3 and arg[0].text in _TYPEOF and arg[1].text == "(" and \
                        matching_paren(arg, 1) == len(arg) - 1:
                    arg = arg[2:-1]
                if arg:
                    out.append(arg)
                start = i + 1
    return out


def _text(node: Node) -> str:
    b = node.text
    return b.decode("utf-8", "replace") if b else ""


def _node_key(node: Node, unit: FileUnit) -> tuple[str, int, int]:
    return (unit.path, node.start_byte, node.end_byte)


def _range(node: Node) -> Range:
    s = node.start_point
    e = node.end_point
    return Range.of(s[0], s[1], e[0], e[1])


def _declarator_name(d: Node) -> Node | None:
    for _ in range(64):
        if d is None:
            return None
        if d.type in ("identifier", "field_identifier", "type_identifier", "primitive_type"):
            return d
        nxt = d.child_by_field_name("declarator")
        if nxt is None:
            inner = [c for c in d.named_children if c.type not in (
                "attribute_specifier", "type_qualifier", "parameter_list")]
            nxt = inner[0] if inner else None
        d = nxt
    return None


def _field_declarators(fd: Node) -> list[tuple[Node | None, Node | None]]:
    """(declarator or None for an unnamed bit-field, width expression or None) per member."""
    out: list[list] = []
    for i, c in enumerate(fd.children):
        if c.type == "bitfield_clause":
            inner = c.named_children
            width = inner[0] if inner else None
            if out and out[-1][1] is None and out[-1][2]:
                out[-1][1] = width
                out[-1][2] = False
            else:
                out.append([None, width, False])
        elif c.type == ",":
            if out:
                out[-1][2] = False
        elif fd.field_name_for_child(i) == "declarator":
            decl = c if (c.type != "field_identifier" or c.text) else None
            out.append([decl, None, True])
    return [(d, w) for d, w, _ in out]


def _aligned_value(attrs: str) -> int:
    import re

    m = re.search(r"aligned\s*\(\s*(\d+)\s*\)", attrs)
    if m:
        return int(m.group(1))
    if re.search(r"\baligned\b(?!\s*\()", attrs):
        return 16  # __attribute__((aligned)) is the target's largest alignment
    return 0
