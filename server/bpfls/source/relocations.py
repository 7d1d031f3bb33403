"""Predict the CO-RE relocations clang emits for each function, with their guards.

The rules (clang's ``CGExpr``/``CGBuiltin`` and the BPF backend's
``BPFAbstractMemberAccess``, checked against clang 16 objects):

- A member access ``x.f`` / ``p->f`` is *preserved* when the record it accesses carries
  ``preserve_access_index`` or the access is inside ``__builtin_preserve_access_index`` (which
  is what ``bpf_core_read`` and ``BPF_CORE_READ`` use). Preserved accesses chain: ``p->a.b[2]``
  is one relocation ``root:0:a:b:2``. A chain ends where a value is loaded (``p->a->b`` is two
  relocations), where a record without the attribute is reached, or at a variable subscript.
- A constant subscript is preserved inside a builtin region, or when its base is a member of a
  preserved record or a variable that points to one (``p[1].a`` gives ``1:0``).
- The root is the type the access went through, modifiers stripped, typedef kept; the raw
  access string includes anonymous members.
- ``__builtin_preserve_field_info(e, k)`` (``bpf_core_field_*``, the bitfield macros) records
  kind ``k`` for the last chain of ``e`` only: the loads on the way are never executed.
- An address minus the same relocated offset cancels: ``container_of(&p->m, T, m)`` (``p`` a
  ``T *``, directly or through a local pointer read nowhere else) emits no relocation at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.btf import Kind
from bpfls.core.relo import Relocation, ReloKind
from bpfls.source import catalogue, headers
from bpfls.source.catalogue import Family, ProgramArgs
from bpfls.source.exprtypes import (
    EType,
    Source,
    etype_of_desc,
    member_paths,
)
from bpfls.source.guards import FALSE, TRUE, UNKNOWN, Guard, all_of, any_of
from bpfls.source.hops import find_member
from bpfls.source.macros import Expander, MacroDef
from bpfls.source.model import (
    ERROR,
    Accessor,
    CoreAccess,
    SourceDiagnostic,
)
from bpfls.source.positions import Range
from bpfls.source.ppexpr import EvalError, parse_int_literal
from bpfls.source.pptokens import IDENT, Tok, tokenize
from bpfls.source.snippets import snippet_body
from bpfls.source.values import NONE, Chain, Val

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.translation_unit import FunctionDef, TranslationUnit

MAX_MACRO_DEPTH = 16

_TERMINATORS = frozenset({"__builtin_unreachable", "__builtin_trap", "__bpf_unreachable",
                          "bpf_unreachable"})


class FunctionWalker:
    def __init__(self, tu: TranslationUnit, fd: FunctionDef) -> None:
        self.tu = tu
        self.fd = fd
        self.types = tu.types
        self.src: Source = fd.source
        self.scopes: list[dict[str, EType | None]] = [{}]
        self.gscopes: list[dict[str, Guard]] = [{}]
        self.guard: Guard = TRUE
        self.region = 0  # inside __builtin_preserve_access_index
        self.silent = 0  # evaluating an unevaluated operand (field info, sizeof)
        self.producer: list[str] = ["direct"]
        self.expr_override: Range | None = None
        self.call_range: Range | None = None  # the CO-RE macro being walked
        self.call_name: str | None = None
        self.user = False
        self.returns: list[Guard] = []
        self.used: set[str] = set()
        self.depth = 0
        # local pointers initialised with an address ``&p->f`` (see _offsets_cancel): each
        # declaration's serial number, the address access it holds, and per access (by id)
        # how often it is read through variables and how many of those reads a cancelled
        # subtraction used up; it goes when all of them were, unless a variable was reassigned
        self.var_serial: dict[tuple[int, str], int] = {}
        self.var_addr: dict[int, CoreAccess] = {}
        self.addr_held: dict[int, CoreAccess] = {}
        self.addr_uses: dict[int, int] = {}
        self.addr_folds: dict[int, int] = {}
        self.addr_pinned: set[int] = set()

    # -- entry -----------------------------------------------------------------------------
    def run(self) -> None:
        fd = self.fd
        for name, et, _ in fd.params:
            self.scopes[0][name] = et
        body = fd.node.child_by_field_name("body")
        if fd.macro:
            self.scopes[0]["ctx"] = _ctx_type(self.tu, fd.macro)
            if body is not None:
                self._program_macro_reads(body)
        if body is not None:
            self.stmt(body)
        fd.returns = any_of(self.returns) if self.returns else None
        gone = [a for i, a in self.addr_held.items() if i not in self.addr_pinned and
                self.addr_folds.get(i) and self.addr_folds[i] == self.addr_uses.get(i)]
        if gone:
            fd.accesses = [a for a in fd.accesses if all(a is not g for g in gone)]

    # -- emission --------------------------------------------------------------------------
    def emit(self, chain: Chain, kind: ReloKind, *, load: bool = False, store: bool = False,
             load_size: int | None = None, probe: bool = False, read_size: int | None = None,
             repeat: int = 0, force: bool = False) -> CoreAccess | None:
        if self.silent and not force:
            return None
        types = self.types
        root = types.resolve(chain.root)
        if kind.is_field and (root is None or root.kind not in (Kind.STRUCT, Kind.UNION)):
            return None
        relo = Relocation(kind, self.tu.local, chain.root, tuple(chain.access))
        expr = self.expr_override or Range(chain.start.start, chain.last.end)
        a = CoreAccess(relo, self.src.unit.path, chain.last, expr, self.fd.name,
                       self.producer[-1], tuple(chain.accessors), load=load, store=store,
                       load_size=load_size, probe_read=probe, read_size=read_size,
                       user=self.user, guard=self.guard, repeat=repeat)
        self.fd.accesses.append(a)
        return a

    def emit_type(self, kind: ReloKind, root: int, access: tuple[int, ...], rng: Range,
                  expr: Range, name: str, accessor: str) -> CoreAccess:
        relo = Relocation(kind, self.tu.local, root, access)
        a = CoreAccess(relo, self.src.unit.path, rng, expr, self.fd.name, name,
                       (Accessor(accessor, rng),), guard=self.guard)
        if not self.silent:
            self.fd.accesses.append(a)
        return a

    def close(self, v: Val, mode: str) -> CoreAccess | None:
        """End the open chain of ``v``: ``load``, ``store``, ``loadstore`` or ``addr``."""
        c = v.chain
        if c is None:
            return None
        v.chain = None
        size = self.types.size(c.field) if mode != "addr" else None
        return self.emit(c, ReloKind.FIELD_BYTE_OFFSET, load=mode in ("load", "loadstore"),
                         store=mode in ("store", "loadstore"), load_size=size)

    # -- positions ---------------------------------------------------------------------------
    def rng(self, node: Node) -> Range:
        return self.src.node_range(node)

    def text(self, node: Node) -> str:
        return self.src.text(node)

    def diag(self, code: str, msg: str, rng: Range, sev: str = ERROR, **data) -> None:
        if self.silent > 1 or not self.src.unit.path or self.src.unit.virtual:
            return
        d = SourceDiagnostic(code, msg, self.src.unit.path, rng, sev, data)
        self.fd.diags.append(d)
        self.tu.diag(d)

    # -- scopes ------------------------------------------------------------------------------
    def lookup(self, name: str) -> tuple[bool, EType | None]:
        for s in reversed(self.scopes):
            if name in s:
                return True, s[name]
        if name in self.tu.globals:
            return True, self.tu.globals[name]
        return False, None

    def guard_var(self, name: str) -> Guard | None:
        for s, g in zip(reversed(self.scopes), reversed(self.gscopes), strict=True):
            if name in g:
                return g[name]
            if name in s:
                return None
        return self.tu.global_guards.get(name)

    def set_guard_var(self, name: str, g: Guard | None) -> None:
        for s, gs in zip(reversed(self.scopes), reversed(self.gscopes), strict=True):
            if name in s:
                if g is None:
                    gs.pop(name, None)
                else:
                    gs[name] = g
                return

    # -- statements ------------------------------------------------------------------------
    def stmt(self, n: Node) -> bool:
        """Walk a statement; True when it never completes normally (return, break, ...)."""
        t = n.type
        if t == "compound_statement":
            return self.block(n.named_children)
        if t == "expression_statement":
            if self.src.code[n.start_byte:n.start_byte + 6] in (b"typeof", b"__type") and \
                    self._typeof_declaration(n):
                return False
            for c in n.named_children:
                v = self.expr(c)
                if c.type == "call_expression" and v is NONE:
                    fn = c.child_by_field_name("function")
                    if fn is not None and fn.type == "identifier" and \
                            self.text(fn) in _TERMINATORS:
                        return True
            return False
        if t == "declaration":
            self.declaration(n)
            return False
        if t == "if_statement":
            return self.if_stmt(n)
        if t == "return_statement":
            val = n.named_children[0] if n.named_children else None
            if val is not None:
                v = self.expr(val)
                g = v.guard
                if g is None:
                    g = TRUE if v.const not in (None, 0) else (FALSE if v.const == 0
                                                               else UNKNOWN)
                self.returns.append(all_of((self.guard, g)))
            return True
        if t in ("break_statement", "continue_statement", "goto_statement"):
            return True
        if t in ("while_statement", "for_statement", "do_statement"):
            return self.loop(n)
        if t == "switch_statement":
            cond = n.child_by_field_name("condition")
            if cond is not None:
                self.expr(cond)
            body = n.child_by_field_name("body")
            saved = self.guard
            if body is not None:
                self.stmt(body)
            self.guard = saved
            return False
        if t == "case_statement":
            for c in n.named_children:
                if c.type in _STATEMENT_TYPES:
                    if self.stmt(c):
                        return True
            return False
        if t == "labeled_statement":
            self.guard = self._block_entry
            for c in n.named_children:
                if c.type != "statement_identifier":
                    return self.stmt(c)
            return False
        if t == "attributed_statement":
            for c in n.named_children:
                if c.type in _STATEMENT_TYPES:
                    return self.stmt(c)
            return False
        if t in ("type_definition", "struct_specifier", "union_specifier", "enum_specifier",
                 "comment", "gnu_asm_expression", ";", "macro_type_specifier"):
            if t == "macro_type_specifier":
                self.expr(n)
            return False
        if t == "ERROR":
            for c in n.named_children:
                if c.type in _STATEMENT_TYPES:
                    self.stmt(c)
                else:
                    self.expr(c)
            return False
        # expressions in statement position (tree-sitter error recovery)
        self.expr(n)
        return False

    _block_entry: Guard = TRUE

    def block(self, children: list[Node]) -> bool:
        self.scopes.append({})
        self.gscopes.append({})
        saved_entry = self._block_entry
        self._block_entry = self.guard
        terminated = False
        try:
            for c in children:
                if c.type == "comment":
                    continue
                if c.type == "case_statement":
                    # a switch can enter at any case
                    self.guard = self._block_entry
                    terminated = False
                if self.stmt(c):
                    terminated = True
                    self.guard = FALSE
                elif terminated and c.type == "labeled_statement":
                    terminated = False
        finally:
            self._block_entry = saved_entry
            self.scopes.pop()
            self.gscopes.pop()
        return terminated

    def if_stmt(self, n: Node) -> bool:
        cond = n.child_by_field_name("condition")
        saved = self.guard
        f = self.cond(cond) if cond is not None else UNKNOWN
        then = n.child_by_field_name("consequence")
        alt = n.child_by_field_name("alternative")
        self.guard = all_of((saved, f))
        then_term = self.stmt(then) if then is not None else False
        self.guard = all_of((saved, ~f))
        else_term = False
        if alt is not None:
            inner = [c for c in alt.named_children if c.type != "comment"]
            if alt.type == "else_clause":
                else_term = self.stmt(inner[0]) if inner else False
            else:
                else_term = self.stmt(alt)
        if then_term and else_term:
            self.guard = FALSE
            return True
        if then_term:
            self.guard = all_of((saved, ~f))
        elif else_term:
            self.guard = all_of((saved, f))
        else:
            self.guard = saved
        return False

    def loop(self, n: Node) -> bool:
        saved = self.guard
        self.scopes.append({})
        self.gscopes.append({})
        try:
            if n.type == "for_statement":
                init = n.child_by_field_name("initializer")
                if init is not None:
                    if init.type == "declaration":
                        self.declaration(init)
                    else:
                        self.expr(init)
            cond = n.child_by_field_name("condition")
            f = UNKNOWN
            if cond is not None and n.type != "do_statement":
                f = self.cond(cond)
            body = n.child_by_field_name("body")
            self.guard = all_of((saved, f)) if n.type != "do_statement" else saved
            if body is not None:
                self.stmt(body)
            if n.type == "for_statement":
                upd = n.child_by_field_name("update")
                if upd is not None:
                    self.expr(upd)
            if n.type == "do_statement" and cond is not None:
                self.expr(cond)
        finally:
            self.scopes.pop()
            self.gscopes.pop()
            self.guard = saved
        return False

    def _typeof_declaration(self, n: Node) -> bool:
        """``typeof(expr) name = init;``, which tree-sitter reads as an expression: walk it as
        a declaration of ``name`` with the type of ``expr``."""
        toks = self.src.tokens(n.start_byte, n.end_byte)
        if len(toks) < 4 or toks[0].text not in ("typeof", "__typeof__", "__typeof") or \
                toks[1].text != "(":
            return False
        depth = 0
        close = -1
        for i in range(1, len(toks)):
            if toks[i].text == "(":
                depth += 1
            elif toks[i].text == ")":
                depth -= 1
                if depth == 0:
                    close = i
                    break
        if close < 0 or close + 1 >= len(toks):
            return False
        inner = toks[2:close]
        desc = self.tu.lt.desc_from_tokens(inner)
        if desc is None:
            from bpfls.source.intrinsics import reparse

            self.silent += 2
            try:
                v = reparse(self, inner, lvalue=True)
            finally:
                self.silent -= 2
            desc = _desc_of_etype(v.et) if v.et is not None else ("unknown", "typeof")
        placeholder = Tok(IDENT, "__bpfls_typeof", 0, 0, False, toks[0].origin)
        snip, body = snippet_body(self.src.unit, [placeholder, *toks[close + 1:]],
                                  toks[0].origin)
        decl = body.named_children[0] if body is not None and body.named_children else None
        if decl is None or decl.type != "declaration":
            return False
        saved = self.src
        self.src = snip
        try:
            self.declaration(decl, desc)
        finally:
            self.src = saved
        return True

    def declaration(self, n: Node, typeof_desc: tuple | None = None) -> None:
        ty = n.child_by_field_name("type")
        auto = ty is not None and ty.type == "type_identifier" and self.text(ty) == "__auto_type"
        if typeof_desc is not None:
            desc: tuple | None = typeof_desc
        elif auto:
            desc = ("id", 0)  # replaced by each initializer's type below
        else:
            desc = self.tu.lt.desc_of_type(ty, self.src.unit, n, self._typeof) \
                if ty is not None else None
        if desc is not None and desc[0] == "unknown" and ty is not None and typeof_desc is None:
            self._unknown_type(ty, desc[1])
        for d in n.children_by_field_name("declarator"):
            decl = d.child_by_field_name("declarator") if d.type == "init_declarator" else d
            value = d.child_by_field_name("value") if d.type == "init_declarator" else None
            name, dd, _ = self.tu.lt.apply_declarator(desc, decl, self.src.unit) \
                if desc is not None else (None, None, None)
            et = etype_of_desc(dd) if dd is not None else None
            g = None
            v = NONE
            if value is not None:
                if value.type == "initializer_list":
                    self.initializer(value)
                else:
                    v = self.expr(value)
                    g = v.guard
                    if auto:
                        et = v.et
            if name:
                self.scopes[-1][name] = et
                if g is not None:
                    self.gscopes[-1][name] = g
                key = len(self.var_serial) + 1
                self.var_serial[(id(self.scopes[-1]), name)] = key
                a = v.addr
                if value is not None and a is not None and et is not None and et.ptr and \
                        et.n < 0:
                    if id(a) in self.addr_held:  # read from another variable: passed on
                        self.addr_uses[id(a)] -= 1
                    self.addr_held[id(a)] = a
                    self.var_addr[key] = a

    def initializer(self, n: Node) -> None:
        for c in n.named_children:
            if c.type == "initializer_list":
                self.initializer(c)
            elif c.type == "initializer_pair":
                val = c.child_by_field_name("value")
                if val is not None:
                    if val.type == "initializer_list":
                        self.initializer(val)
                    else:
                        self.expr(val)
            else:
                self.expr(c)

    def _typeof(self, node: Node) -> tuple:
        """typeof(expr) in a declaration: the expression's type, not evaluated."""
        self.silent += 2
        try:
            v = self.lvalue(node)
        finally:
            self.silent -= 2
        if v.et is None:
            return ("unknown", self.text(node))
        return _desc_of_etype(v.et)

    # -- conditions ------------------------------------------------------------------------
    def cond(self, n: Node) -> Guard:
        v = self.expr(n)
        return v.guard if v.guard is not None else UNKNOWN

    # -- expressions ------------------------------------------------------------------------
    def expr(self, n: Node) -> Val:
        """An rvalue: open chains are closed as loads (arrays decay: address only)."""
        v = self.lvalue(n)
        if v.chain is not None:
            if self.types.is_array(v.et):
                self.close(v, "addr")
            else:
                self.close(v, "load")
            return Val(v.et, guard=v.guard, const=v.const)
        return v

    def lvalue(self, n: Node) -> Val:
        self.depth += 1
        if self.depth > 400:
            self.depth -= 1
            return NONE
        try:
            return self._lvalue(n)
        finally:
            self.depth -= 1

    def _lvalue(self, n: Node) -> Val:
        t = n.type
        if t == "identifier":
            return self.identifier(n)
        if t == "field_expression":
            return self.field(n)
        if t == "subscript_expression":
            return self.subscript(n)
        if t == "call_expression":
            return self.call(n)
        if t == "parenthesized_expression":
            inner = [c for c in n.named_children if c.type != "comment"]
            if len(inner) == 1:
                if inner[0].type == "compound_statement":
                    return self.statement_expression(inner[0])
                return self.lvalue(inner[0])
            v = NONE
            for c in inner:
                v = self.expr(c)
            return v
        if t == "pointer_expression":
            arg = n.child_by_field_name("argument")
            op = n.child_by_field_name("operator")
            if arg is None:
                return NONE
            if op is not None and self.text(op) == "&":
                v = self.lvalue(arg)
                a = self.close(v, "addr")
                return Val(v.et.pointer() if v.et is not None else None, addr=a)
            v = self.expr(arg)
            return Val(self.types.deref(v.et))
        if t == "cast_expression":
            tyd = n.child_by_field_name("type")
            val = n.child_by_field_name("value")
            v = self.expr(val) if val is not None else NONE
            et = None
            if tyd is not None:
                desc = self.tu.lt.desc_of_type_descriptor(tyd, self.src.unit, self._typeof)
                if desc[0] == "unknown":
                    self._unknown_type(tyd, desc[1])
                et = etype_of_desc(desc)
            return Val(et, guard=v.guard, const=v.const, addr=v.addr)
        if t == "assignment_expression":
            return self.assignment(n)
        if t == "update_expression":
            arg = n.child_by_field_name("argument")
            if arg is not None:
                v = self.lvalue(arg)
                self.close(v, "loadstore")
                return Val(v.et)
            return NONE
        if t == "binary_expression":
            return self.binary(n)
        if t == "unary_expression":
            arg = n.child_by_field_name("argument")
            op = n.child_by_field_name("operator")
            if arg is None:
                return NONE
            v = self.expr(arg)
            o = self.text(op) if op is not None else ""
            if o == "!":
                return Val(None, guard=~v.guard if v.guard is not None else None,
                           const=None if v.const is None else int(not v.const))
            if o == "-" and v.const is not None:
                return Val(v.et, const=-v.const)
            return Val(v.et)
        if t == "conditional_expression":
            return self.conditional(n)
        if t == "comma_expression":
            v = NONE
            for c in n.named_children:
                v = self.expr(c)
            return v
        if t in ("number_literal",):
            try:
                return Val(None, const=parse_int_literal(self.text(n))[0])
            except EvalError:
                return NONE
        if t in ("true",):
            return Val(None, const=1)
        if t in ("false", "null"):
            return Val(None, const=0)
        if t in ("string_literal", "concatenated_string", "char_literal", "sizeof_expression",
                 "alignof_expression", "comment", "gnu_asm_expression"):
            return NONE
        if t == "offsetof_expression":
            return self.offsetof(n)
        if t == "compound_literal_expression":
            tyd = n.child_by_field_name("type")
            val = n.child_by_field_name("value")
            if val is not None:
                self.initializer(val)
            if tyd is not None:
                return Val(etype_of_desc(self.tu.lt.desc_of_type_descriptor(tyd, self.src.unit)))
            return NONE
        if t == "initializer_list":
            self.initializer(n)
            return NONE
        if t == "macro_type_specifier":
            return self.call(n)
        if t == "compound_statement":
            return self.statement_expression(n)
        # extension_expression, generic_expression, ERROR, ...: walk what is there
        v = NONE
        for c in n.named_children:
            if c.type in _STATEMENT_TYPES:
                self.stmt(c)
            else:
                v = self.expr(c)
        return v if n.named_child_count == 1 else NONE

    def statement_expression(self, body: Node) -> Val:
        """GNU ``({ ...; value; })``: the value of the last expression statement."""
        self.scopes.append({})
        self.gscopes.append({})
        last = NONE
        try:
            for c in body.named_children:
                if c.type == "expression_statement" and c.named_children:
                    last = self.expr(c.named_children[0])
                else:
                    self.stmt(c)
                    last = NONE
        finally:
            self.scopes.pop()
            self.gscopes.pop()
        return Val(last.et, guard=last.guard, const=last.const)

    def identifier(self, n: Node) -> Val:
        name = self.text(n)
        found, et = self.lookup(name)
        if found:
            self.used.add(name)
            key = self._var_key(name)
            addr = self.var_addr.get(key) if key is not None else None
            if addr is not None:
                self.addr_uses[id(addr)] = self.addr_uses.get(id(addr), 0) + 1
            return Val(et, decl=name, guard=self.guard_var(name), addr=addr)
        tu = self.tu
        if name in tu.functions:
            # a callback (bpf_loop, bpf_for_each_map_elem, ...) runs only if this code does
            tu.refs.setdefault(self.fd.name, set()).add(name)
            tu.call_sites.append((self.fd.name, name, self.guard))
            return Val(EType(0, 1))
        m = tu.macros.get(name)
        if m is not None and m.params is None and self.depth < 300:
            return self.expand_macro(n, n.start_byte, n.end_byte)
        e = tu.lt.enumerator(name)
        if e is not None:
            return Val(None, const=e.value)
        return NONE

    # -- member access ---------------------------------------------------------------------
    def field(self, n: Node) -> Val:
        arg = n.child_by_field_name("argument")
        fld = n.child_by_field_name("field")
        op = n.child_by_field_name("operator")
        if arg is None or fld is None:
            if arg is not None:
                self.expr(arg)
            return NONE
        arrow = op is not None and self.text(op) == "->"
        if arrow:
            base = self.expr(arg)
            rec_et = self.types.deref(base.et)
            base_chain = None
        else:
            base = self.lvalue(arg)
            rec_et = base.et
            base_chain = base.chain
        name = self.text(fld)
        m = self.tu.macros.get(name)
        if m is not None and m.params is None:
            # `sk->DPORT` with `#define DPORT __sk_common.skc_dport`
            from bpfls.source.intrinsics import apply_path, path_elements

            elems = path_elements(self, self.src.tokens(fld.start_byte, fld.end_byte))
            if elems is not None:
                saved = self.expr_override
                self.expr_override = self.rng(n) if self.expr_override is None else saved
                try:
                    if arrow:
                        return apply_path(self, Val(base.et), elems, arrow=True)
                    return apply_path(self, base, elems, arrow=False)
                finally:
                    self.expr_override = saved
        return self.member(base, rec_et, base_chain, name, fld, n)

    def _r(self, x) -> Range:
        return x if isinstance(x, Range) else self.rng(x)

    def member(self, base: Val, rec_et: EType | None, base_chain: Chain | None, name: str,
               name_rng, expr_rng) -> Val:
        """``.name`` on an lvalue of type ``rec_et`` (ranges may be given as nodes)."""
        types = self.types
        rec, hit = find_member(types, rec_et, name)
        if rec is None:
            if rec_et is not None and base_chain is None:
                t = types.resolve(rec_et.tid) if not rec_et.ptr else None
                if t is not None and t.kind == Kind.FWD and self.tu.has_base:
                    self.diag("incomplete-type",
                              f"member access into incomplete type '{types.name(rec_et.tid)}'",
                              self._r(name_rng), name=name)
            if base_chain is not None:
                self.close(base, "addr")
            return NONE
        if hit is None:
            if base_chain is not None:
                self.close(base, "addr")
            self._unknown_member(rec, name, self._r(name_rng), member_paths(rec))
            return NONE
        indices, recs, m = hit
        preserved = self.region > 0 or all(self.tu.is_pai(r) for r in recs)
        if not preserved:
            if base_chain is not None:
                self.close(base, "addr")
            return Val(EType(m.type_id))
        name_rng = self._r(name_rng)
        if base_chain is not None:
            chain = base_chain
            base.chain = None
        else:
            root = types.root_id(rec_et)  # type: ignore[arg-type]
            start = self._r(expr_rng).start
            chain = Chain(root, [0], Range(start, start))
        chain.access.extend(indices)
        chain.accessors.append(Accessor(name, name_rng))
        chain.last = name_rng
        chain.field = EType(m.type_id)
        return Val(EType(m.type_id), chain, member_pai=True)

    def subscript(self, n: Node) -> Val:
        arg = n.child_by_field_name("argument")
        idx_node = n.child_by_field_name("index")
        if arg is None:
            return NONE
        types = self.types
        base = self.lvalue(arg)
        idx_val = self.expr(idx_node) if idx_node is not None else NONE
        idx = idx_val.const
        if idx is None and idx_node is not None:
            idx = self._const(idx_node)
        is_arr = types.is_array(base.et)
        elem = types.deref(base.et)
        if is_arr:
            if base.chain is not None and idx is not None and idx >= 0 and \
                    (self.region or base.member_pai):
                c = base.chain
                base.chain = None
                c.access.append(idx)
                c.last = Range(c.last.start, self.rng(n).end)
                c.field = elem
                return Val(elem, c, member_pai=False)
            self.close(base, "addr")
            return Val(elem)
        # a pointer: its value is loaded first
        if base.chain is not None:
            self.close(base, "load")
        preserved = self.region > 0 or base.member_pai or self._var_points_to_pai(base)
        if idx is not None and idx >= 0 and preserved and elem is not None and not elem.ptr:
            root = types.root_id(elem)
            r = types.resolve(root)
            if r is not None and r.kind in (Kind.STRUCT, Kind.UNION):
                start = self.rng(n)
                c = Chain(root, [idx], Range(start.start, start.start))
                c.last = Range(start.start, start.end)
                c.field = elem
                return Val(elem, c)
        return Val(elem)

    def _var_points_to_pai(self, v: Val) -> bool:
        if v.decl is None or v.et is None:
            return False
        elem = self.types.deref(v.et)
        rec = self.types.record(elem)
        return rec is not None and self.tu.is_pai(rec.id)

    def _const(self, n: Node) -> int | None:
        return self.tu.lt.const_tokens(self.src.tokens(n.start_byte, n.end_byte))

    # -- other expressions ---------------------------------------------------------------
    def assignment(self, n: Node) -> Val:
        left = n.child_by_field_name("left")
        right = n.child_by_field_name("right")
        op = n.child_by_field_name("operator")
        o = self.text(op) if op is not None else "="
        rv = self.expr(right) if right is not None else NONE
        if left is None:
            return NONE
        lv = self.lvalue(left)
        self.close(lv, "store" if o == "=" else "loadstore")
        if left.type == "identifier":
            key = self._var_key(self.text(left))
            if key is not None and key in self.var_addr:
                # a new value: later reads are not the address, and the access stays
                self.addr_pinned.add(id(self.var_addr.pop(key)))
        if left.type == "identifier" and o == "=":
            self.set_guard_var(self.text(left), rv.guard)
        return Val(lv.et, guard=rv.guard if o == "=" else None)

    def binary(self, n: Node) -> Val:
        left = n.child_by_field_name("left")
        right = n.child_by_field_name("right")
        op = n.child_by_field_name("operator")
        o = self.text(op) if op is not None else ""
        if left is None or right is None:
            for c in n.named_children:
                self.expr(c)
            return NONE
        if o in ("&&", "||"):
            lv = self.expr(left)
            gl = lv.guard if lv.guard is not None else UNKNOWN
            saved = self.guard
            self.guard = all_of((saved, gl if o == "&&" else ~gl))
            try:
                rv = self.expr(right)
            finally:
                self.guard = saved
            gr = rv.guard if rv.guard is not None else UNKNOWN
            if lv.guard is None and rv.guard is None:
                return NONE
            return Val(None, guard=(gl & gr) if o == "&&" else (gl | gr))
        lv = self.expr(left)
        rv = self.expr(right)
        if o in ("==", "!=", ">", "<", ">=", "<="):
            g = _compare_guard(o, lv, rv)
            return Val(None, guard=g)
        if lv.const is not None and rv.const is not None:
            try:
                from bpfls.source.ppexpr import ConstEval

                c = ConstEval([]).apply(o, (lv.const, False), (rv.const, False))[0]
                return Val(None, const=c)
            except (EvalError, KeyError, ValueError):
                return NONE
        if o == "-" and lv.addr is not None and rv.addr is not None and \
                self._offsets_cancel(lv, rv):
            return Val(lv.et)
        if o in ("+", "-"):
            if self.types.is_pointer(lv.et):
                return Val(lv.et)
            if self.types.is_pointer(rv.et) and o == "+":
                return Val(rv.et)
        return NONE

    def _offsets_cancel(self, lv: Val, rv: Val) -> bool:
        """``(void *)&p->m - offsetof(T, m)`` (``container_of`` of a member's own address):
        both terms add the same relocated offset (one relocation record, the same global for
        clang's BPF backend), so the optimiser cancels them and neither relocation is emitted.
        Only a byte pointer minus an integer (the difference of two such addresses keeps both
        relocations)."""
        a, b = lv.addr, rv.addr
        assert a is not None and b is not None
        ra, rb = a.relocation, b.relocation
        if a is b or ra.kind != rb.kind or ra.type_id != rb.type_id or ra.access != rb.access:
            return False
        types = self.types
        if types.is_pointer(rv.et):
            return False
        elem = types.deref(lv.et)
        if elem is None or (elem.ptr == 0 and elem.tid != 0 and types.size(elem) != 1):
            return False
        accesses = self.fd.accesses
        if not any(x is a for x in accesses) or not any(x is b for x in accesses):
            return False
        if id(a) in self.addr_held:
            # `v = &p->m; ... container_of(v, T, m)`: a goes if v has no other use
            self.addr_folds[id(a)] = self.addr_folds.get(id(a), 0) + 1
            self.fd.accesses = [x for x in accesses if x is not b]
            return True
        self.fd.accesses = [x for x in accesses if x is not a and x is not b]
        return True

    def _var_key(self, name: str) -> int | None:
        for s in reversed(self.scopes):
            if name in s:
                return self.var_serial.get((id(s), name))
        return None

    def conditional(self, n: Node) -> Val:
        cond = n.child_by_field_name("condition")
        cons = n.child_by_field_name("consequence")
        alt = n.child_by_field_name("alternative")
        saved = self.guard
        f = self.cond(cond) if cond is not None else UNKNOWN
        self.guard = all_of((saved, f))
        cv = self.expr(cons) if cons is not None else NONE
        self.guard = all_of((saved, ~f))
        av = self.expr(alt) if alt is not None else NONE
        self.guard = saved
        g = None
        if cv.guard is not None or av.guard is not None or cv.const is not None or \
                av.const is not None:
            gc = cv.guard if cv.guard is not None else _const_guard(cv.const)
            ga = av.guard if av.guard is not None else _const_guard(av.const)
            g = (f & gc) | (~f & ga)
        return Val(cv.et or av.et, guard=g)

    # -- calls -----------------------------------------------------------------------------
    def call(self, n: Node) -> Val:
        fn = n.child_by_field_name("function")
        if n.type == "macro_type_specifier":
            fn = n.named_children[0] if n.named_children else None
        name = self.text(fn) if fn is not None and fn.type == "identifier" else None
        tu = self.tu
        if name is not None:
            found, _ = self.lookup(name)
            if not found:
                alias = _alias(tu.macros, name)
                if alias is not None and alias in catalogue.ALL_INTRINSICS:
                    name = alias
                intrinsic = catalogue.MACROS.get(name)
                if intrinsic is not None and intrinsic.family is not Family.PROGRAM:
                    from bpfls.source.intrinsics import call_intrinsic

                    return call_intrinsic(self, intrinsic, n)
                m = tu.macros.get(name)
                if m is not None and m.params is not None:
                    return self.expand_macro(n, n.start_byte, self._call_end(n))
        args = n.child_by_field_name("arguments")
        arg_vals = []
        if args is not None:
            for c in args.named_children:
                if c.type in ("comment",):
                    continue
                arg_vals.append(self.expr(c))
        elif fn is None:
            for c in n.named_children:
                self.expr(c)
        if name is not None and name in tu.functions:
            fd = tu.functions[name]
            tu.refs.setdefault(self.fd.name, set()).add(name)
            tu.call_sites.append((self.fd.name, name, self.guard))
            if not fd.walked:
                tu.walk_function(fd)
            g = fd.returns if fd.returns is not None and fd.returns.atoms() else None
            return Val(fd.ret, guard=g)
        if fn is not None and fn.type != "identifier":
            self.expr(fn)
            return Val(None)
        if name in _TERMINATORS:
            return NONE
        if name is not None:
            if name in tu.prototypes:
                return Val(tu.prototypes[name])
            ret = headers.HELPER_RETURNS.get(name)
            if ret is not None:
                d = tu.lt.desc_from_tokens(tokenize(ret.encode()))
                return Val(etype_of_desc(d) if d is not None else None)
        return Val(None)

    def _call_end(self, n: Node) -> int:
        return n.end_byte

    def expand_macro(self, n: Node, start: int, end: int) -> Val:
        """Expand the macro invocation ``code[start:end]`` and walk the expansion."""
        if self.depth > 300 or len(self.producer) > MAX_MACRO_DEPTH:
            return NONE
        toks = self.src.tokens(start, end)
        if not toks:
            return NONE
        try:
            exp = Expander(self.tu.macros).expand(toks)
        except RecursionError:  # pragma: no cover
            return NONE
        if not exp:
            return NONE
        snip, body = snippet_body(self.src.unit, exp, self.src.origin(start, end))
        if body is None:
            return NONE
        saved_src = self.src
        self.src = snip
        macro_name = toks[0].text
        self.producer.append(macro_name if self.producer[-1] == "direct" else self.producer[-1])
        try:
            stmts = [c for c in body.named_children if c.type != "comment"]
            if len(stmts) == 1 and stmts[0].type == "expression_statement" and \
                    stmts[0].named_children:
                return self.lvalue(stmts[0].named_children[0])
            for c in stmts:
                self.stmt(c)
            return NONE
        finally:
            self.producer.pop()
            self.src = saved_src

    def offsetof(self, n: Node) -> Val:
        if "offsetof" in self.tu.macros:
            return self.expand_macro(n, n.start_byte, n.end_byte)
        return NONE

    # -- the program macros' implicit reads ------------------------------------------------
    def _program_macro_reads(self, body: Node) -> None:
        """The reads BPF_KPROBE, BPF_KRETPROBE and BPF_KSYSCALL make for their parameters.

        A direct load of an unused parameter is dead code clang removes; a CO-RE read
        (``bpf_probe_read_kernel``) is a call and stays whether the value is used or not."""
        fd = self.fd
        m = catalogue.MACROS.get(fd.macro or "")
        kind = m.program_args if m is not None else None
        if kind not in (ProgramArgs.KPROBE, ProgramArgs.KRETPROBE, ProgramArgs.KSYSCALL) or \
                not fd.params:
            return
        used = _identifiers_in(body, self.src)
        texts: list[tuple[str, Node | None, bool]] = []  # (text, where, only when used)
        for i, (name, _, node) in enumerate(fd.params):
            is_used = name in used
            if kind is ProgramArgs.KPROBE and i < 5:
                texts.append((f"(void *)PT_REGS_PARM{i + 1}(ctx)", node, is_used))
            elif kind is ProgramArgs.KRETPROBE and i == 0:
                texts.append(("(void *)PT_REGS_RC(ctx)", node, is_used))
            elif kind is ProgramArgs.KSYSCALL and i < 5:
                if i == 0:
                    texts.append(("(struct pt_regs *)PT_REGS_PARM1(ctx)", node, False))
                texts.append((f"(void *)PT_REGS_PARM{i + 1}_CORE_SYSCALL(regs)", node, False))
                texts.append((f"(void *)PT_REGS_PARM{i + 1}_SYSCALL(regs)", node, is_used))
        if kind is ProgramArgs.KSYSCALL:
            self.scopes[0]["regs"] = self.scopes[0]["ctx"]
        for text, node, needed in texts:
            self._synthetic(text, node, fd.macro or "", needed)
        self.scopes[0].pop("regs", None)

    def _synthetic(self, text: str, at: Node | None, macro: str, needed: bool = True) -> None:
        from bpfls.source.pptokens import tokenize

        if at is None:
            return
        origin = self.src.origin(at.start_byte, at.end_byte)
        toks = [t.copy(origin=origin) for t in tokenize(text.encode())]
        exp = Expander(self.tu.macros).expand(toks)
        if not needed and not any(t.text in catalogue.HOP_READS for t in exp):
            return  # an unused direct load
        snip, body = snippet_body(self.src.unit, exp, origin)
        if body is None:
            return
        saved = self.src
        self.src = snip
        self.producer.append(macro)
        try:
            for c in body.named_children:
                self.stmt(c)
        finally:
            self.producer.pop()
            self.src = saved

    # -- diagnostics -----------------------------------------------------------------------
    def _unknown_member(self, rec, name: str, rng: Range, paths: dict) -> None:
        if rec.id < self.tu.start_id and not self.tu.has_base:
            return
        tname = self.types.name(rec.id)
        if not rec.name:
            tname = tname or "<anonymous>"
        self.diag("unknown-member", f"no member named '{name}' in '{tname}'", rng,
                  member=name, type=tname, type_id=rec.id, candidates=sorted(paths))

    def _unknown_type(self, node: Node, spelling: str) -> None:
        self._unknown_type_rng(spelling, self.rng(node))

    def _unknown_type_rng(self, spelling: str, rng: Range) -> None:
        if not self.tu.has_base:
            return
        self.diag("unknown-type", f"unknown type '{spelling}'", rng, type=spelling)


_STATEMENT_TYPES = frozenset({
    "compound_statement", "expression_statement", "declaration", "if_statement",
    "return_statement", "break_statement", "continue_statement", "goto_statement",
    "while_statement", "for_statement", "do_statement", "switch_statement", "case_statement",
    "labeled_statement", "attributed_statement", "type_definition"})


def _desc_of_etype(et: EType) -> tuple:
    d: tuple = ("id", et.tid)
    for i in range(et.ptr):
        d = ("arr", d, et.n) if i == et.ptr - 1 and et.n >= 0 else ("ptr", d)
    return d


def _compare_guard(op: str, lv: Val, rv: Val) -> Guard | None:
    if lv.guard is not None and rv.const is not None:
        g, c = lv.guard, rv.const
    elif rv.guard is not None and lv.const is not None:
        g, c = rv.guard, lv.const
        op = {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(op, op)
    else:
        return None
    truth = {  # value 1 when the check holds, 0 when not
        "==": (c == 1, c == 0), "!=": (c != 1, c != 0), ">": (1 > c, 0 > c),
        "<": (1 < c, 0 < c), ">=": (1 >= c, 0 >= c), "<=": (1 <= c, 0 <= c)}[op]
    if truth == (True, False):
        return g
    if truth == (False, True):
        return ~g
    return TRUE if truth == (True, True) else FALSE


def _const_guard(c: int | None) -> Guard:
    if c is None:
        return UNKNOWN
    return TRUE if c else FALSE


def _alias(macros: dict[str, MacroDef], name: str) -> str | None:
    """``#define BPF_UPROBE BPF_KPROBE``: the name an object-like macro stands for."""
    seen = set()
    cur = name
    while cur in macros and cur not in seen:
        seen.add(cur)
        m = macros[cur]
        if m.params is not None or len(m.body) != 1 or m.body[0].kind != IDENT:
            return cur if cur != name else None
        cur = m.body[0].text
    return cur if cur != name else None


def _identifiers_in(body: Node, src: Source) -> set[str]:
    import re

    text = src.code[body.start_byte:body.end_byte]
    return {m.decode() for m in re.findall(rb"[A-Za-z_][A-Za-z0-9_]*", text)}


def _ctx_type(tu: TranslationUnit, macro: str) -> EType | None:
    how = catalogue.MACROS[macro].program_args
    if how is not None and how.ctx_array:
        return EType(tu.lt.int_type("unsigned long long"), 1)
    tid = tu.lt.tag_id("struct", "pt_regs", create_fwd=False)
    return EType(tid, 1) if tid is not None else None


__all__ = ["FunctionWalker"]
