"""The relocation walker's statements: blocks, control flow (the guard each statement runs
under), declarations (the types of locals, and the addresses they hold)."""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from bpfls.source.catalogue import uses_core
from bpfls.source.exprtypes import EType, etype_of_desc
from bpfls.source.guards import CONFIG, FALSE, TRUE, UNKNOWN, Guard, all_of, any_of
from bpfls.source.intrinsics import reparse
from bpfls.source.pptokens import IDENT, Tok
from bpfls.source.snippets import snippet_body
from bpfls.source.values import NONE
from bpfls.source.walk_base import STATEMENT_TYPES, TERMINATORS
from bpfls.source.walk_scalars import ScalarWalker

if TYPE_CHECKING:
    from tree_sitter import Node


class StatementWalker(ScalarWalker):
    """Statements, declarations and conditions."""

    def stmt(self, n: Node) -> bool:
        """Walk a statement; True when it never completes normally (return, break, ...)."""
        t = n.type
        if t in ("expression_statement", "ERROR", "declaration") and n.has_error:
            done = self.broken_macro_statement(n)
            if done is not None:
                return done
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
                            self.text(fn) in TERMINATORS:
                        return True
            return False
        if t == "declaration":
            if self._statement_macro(n):
                return self.expand_statements(n)
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
                if v.const != 0:  # NULL is a number too
                    self.returned(v.origin)
            return True
        if t in ("break_statement", "continue_statement", "goto_statement"):
            if self.exits is not None and t != "goto_statement":
                self.exits.append(dict(self.var_origin))
            return True
        if t in ("while_statement", "for_statement", "do_statement"):
            return self.loop(n)
        if t == "switch_statement":
            cond = n.child_by_field_name("condition")
            v = self.expr(cond) if cond is not None else NONE
            body = n.child_by_field_name("body")
            saved = self.guard
            saved_values = self.switch_values
            self.switch_values = v.values
            saved_origins, saved_exits = self.switch_origins, self.exits
            self.switch_origins = before = self.origins_fork()
            self.exits = exits = [before]
            try:
                if body is not None:
                    self.stmt(body)
            finally:
                self.switch_values = saved_values
                self.switch_origins, self.exits = saved_origins, saved_exits
            for e in exits:
                self.origins_join(e)
            self.guard = saved
            return False
        if t == "case_statement":
            for c in n.named_children:
                if c.type in STATEMENT_TYPES:
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
                if c.type in STATEMENT_TYPES:
                    return self.stmt(c)
            return False
        if t in ("type_definition", "struct_specifier", "union_specifier", "enum_specifier",
                 "comment", "gnu_asm_expression", ";", "macro_type_specifier"):
            if t == "macro_type_specifier":
                self.expr(n)
            return False
        if t == "ERROR":
            if uses_core(self.text(n)):
                self.incomplete("code it cannot parse", self.rng(n))
            for c in n.named_children:
                if c.type in STATEMENT_TYPES:
                    self.stmt(c)
                else:
                    self.expr(c)
            return False
        # expressions in statement position (tree-sitter error recovery)
        self.expr(n)
        return False

    _block_entry: Guard = TRUE
    _body_tokens: list[Tok] | None = None  # the function body's, once needed

    def block(self, children: list[Node], *, scoped: bool = True) -> bool:
        """Walk a block's statements; True when it never completes normally. Not ``scoped``:
        statements of the enclosing block (its scope, and its entry guard for labels)."""
        if scoped:
            self.scopes.append({})
            self.gscopes.append({})
        saved_entry = self._block_entry
        if scoped:
            self._block_entry = self.guard
        terminated = False
        # the values of the switch this block is the body of (None: any, or no switch)
        values, self.switch_values = self.switch_values, None
        labels = self._case_labels(children) if values is not None else None
        seen_case = False
        try:
            for c in children:
                if c.type == "comment" or self._consumed(c):
                    continue
                if c.type == "case_statement":
                    # a switch can enter at any case its value can select, or fall into it
                    if values is None:
                        self.guard = self._block_entry
                    else:
                        entered = self._block_entry \
                            if self._case_selected(c, values, labels) else FALSE
                        falls = seen_case and not terminated
                        self.guard = any_of((self.guard, entered)) if falls else entered
                    if self.switch_origins is not None:
                        # entered from the switch, or also from the case before
                        if terminated or not seen_case:
                            self.var_origin = dict(self.switch_origins)
                        else:
                            self.origins_join(self.switch_origins)
                    seen_case = True
                    terminated = False
                if self.stmt(c):
                    terminated = True
                    self.guard = FALSE
                elif terminated and c.type == "labeled_statement":
                    terminated = False
        finally:
            self._block_entry = saved_entry
            if scoped:
                self.scopes.pop()
                self.gscopes.pop()
        return terminated

    def _case_labels(self, children: list[Node]) -> set[int] | None:
        """The values of a switch body's case labels (None: one is not a constant)."""
        out: set[int] = set()
        for c in children:
            if c.type == "case_statement":
                value = c.child_by_field_name("value")
                if value is not None:
                    v = self._case_value(value)
                    if v is None:
                        return None
                    out.add(v)
        return out

    def _case_value(self, value: Node) -> int | None:
        v = self.tu.lt.const_tokens(self.src.tokens(value.start_byte, value.end_byte))
        if v is None:
            self.silent += 2
            try:
                v = self.expr(value).const
            finally:
                self.silent -= 2
        return v

    def _case_selected(self, c: Node, values: frozenset[int], labels: set[int] | None) -> bool:
        """Whether case ``c`` can be entered when the switch's value is one of ``values``."""
        value = c.child_by_field_name("value")
        if value is None:  # default
            return labels is None or any(v not in labels for v in values)
        v = self._case_value(value)
        return v is None or v in values

    def if_stmt(self, n: Node) -> bool:
        cond = n.child_by_field_name("condition")
        saved = self.guard
        f = self.cond(cond) if cond is not None else UNKNOWN
        then = n.child_by_field_name("consequence")
        alt = n.child_by_field_name("alternative")
        self.guard = all_of((saved, f))
        before = self.origins_fork()
        then_term = self.stmt(then) if then is not None else False
        after_then = self.var_origin
        self.var_origin = dict(before)
        self.guard = all_of((saved, ~f))
        else_term = False
        if alt is not None:
            inner = [c for c in alt.named_children if c.type != "comment"]
            if alt.type == "else_clause":
                else_term = self.stmt(inner[0]) if inner else False
            else:
                else_term = self.stmt(alt)
        if then_term and not else_term:
            pass  # the else branch's origins go on
        elif else_term and not then_term:
            self.var_origin = after_then
        else:
            self.origins_join(after_then)
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
        saved_exits = self.exits
        self.exits = exits = []
        try:
            if n.type == "for_statement":
                init = n.child_by_field_name("initializer")
                if init is not None:
                    if init.type == "declaration":
                        self.declaration(init)
                    else:
                        self.expr(init)
            before = self.origins_fork()
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
            for e in (before, *exits):
                self.origins_join(e)
        finally:
            self.exits = saved_exits
            self.scopes.pop()
            self.gscopes.pop()
            self.guard = saved
        return False

    def _statement_macro(self, n: Node) -> bool:
        """``MACRO`` written as a statement of its own, without a semicolon (``BODY\n x = 1;``),
        which tree-sitter reads as a declaration of type ``MACRO``: the type is an object-like
        macro of the program that names no type."""
        ty = n.child_by_field_name("type")
        if ty is None or ty.type != "type_identifier":
            return False
        m = self.macros_at(n).get(self.text(ty))
        if m is None or m.params is not None or not m.body:
            return False
        desc = self.tu.lt.desc_of_type(ty, self.src.unit, n)
        return desc is None or desc[0] == "unknown"

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
            desc = self.tu.lt.desc_of_type(ty, self.src.unit, n, self.typeof_type) \
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
                    first, effects = len(self.fd.accesses), self.effects
                    first_deref = len(self.fd.derefs)
                    v = self.expr(value)
                    g = v.guard
                    if auto:
                        et = v.et
                    if name and effects == self.effects and (
                            len(self.fd.accesses) > first or len(self.fd.derefs) > first_deref):
                        self._drop_dead_loads(n, d, name, first, first_deref)
            if name:
                self.scopes[-1][name] = et
                if g is not None:
                    self.gscopes[-1][name] = g
                key = self.new_var(self.scopes[-1], name)
                if v.origin is not None and not self.silent:
                    self.var_origin[key] = v.origin
                a = v.addr
                if value is not None and a is not None and et is not None and et.ptr and \
                        et.n < 0:
                    if id(a) in self.addr_held:  # read from another variable: passed on
                        self.addr_uses[id(a)] -= 1
                    self.addr_held[id(a)] = a
                    self.var_addr[key] = a

    def _drop_dead_loads(self, decl: Node, declarator: Node, name: str, first: int,
                         first_deref: int) -> None:
        """The initializer of local ``name`` (its accesses from ``first`` on, its dereferences
        from ``first_deref`` on) has no side effect: when the rest of the function (from the
        end of its declarator) never reads ``name``, its plain loads are dead code clang
        removes, relocations and all."""
        if not self.src.is_file or b"volatile" in self.src.code[decl.start_byte:decl.end_byte]:
            return
        node = self.fd.node
        body = node.child_by_field_name("body")
        if body is None or self.fd.source is not self.src or getattr(node, "has_error", True):
            return  # half-typed: what follows is not all there
        toks = self._body_tokens
        if toks is None:
            toks = self._body_tokens = self.src.tokens(body.start_byte, body.end_byte)
        rest = toks[bisect_left(toks, declarator.end_byte, key=lambda t: t.start):]
        if self.reads.read_in(name, rest):
            return
        accesses = self.fd.accesses
        self.fd.accesses = accesses[:first] + [
            a for a in accesses[first:] if not (a.load and not a.store and not a.probe_read)]
        del self.fd.derefs[first_deref:]

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

    def typeof_type(self, node: Node) -> tuple:
        """typeof(expr) in a declaration: the expression's type, not evaluated. ``node`` is
        the expression, or the name the parser read in place of ``typeof(...)``."""
        toks = self.src.tokens(node.start_byte, node.end_byte)
        self.silent += 2
        try:
            if len(toks) >= 4 and toks[0].text in ("typeof", "__typeof__", "__typeof") and \
                    toks[1].text == "(" and toks[-1].text == ")":
                desc = self.tu.lt.desc_from_tokens(toks[2:-1])
                if desc is not None:
                    return desc
                v = reparse(self, toks[2:-1], lvalue=True)
            else:
                v = self.lvalue(node)
        finally:
            self.silent -= 2
        if v.et is None:
            return ("unknown", self.text(node))
        return _desc_of_etype(v.et)

    # -- conditions ------------------------------------------------------------------------
    def cond(self, n: Node) -> Guard:
        """The guard under which condition ``n`` holds (TRUE or FALSE when it is constant)."""
        v = self.expr(n)
        if v.guard is not None:
            return v.guard
        if v.const is not None:
            return TRUE if v.const else FALSE
        if v.values is not None and len({bool(x) for x in v.values}) == 1:
            return TRUE if next(iter(v.values)) else FALSE
        if self.tu.reads_load_constant(self.src.tokens(n.start_byte, n.end_byte)):
            return CONFIG
        return UNKNOWN


def _desc_of_etype(et: EType) -> tuple:
    d: tuple = ("id", et.tid)
    for i in range(et.ptr):
        d = ("arr", d, et.n) if i == et.ptr - 1 and et.n >= 0 else ("ptr", d)
    return d
