"""The relocation walker's expressions: member accesses and subscripts chained into
relocations (see :mod:`bpfls.source.relocations` for clang's rules), loads, stores and
addresses closing them, and the guards and constants conditions are made of."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.btf import Kind
from bpfls.source.exprtypes import EType, etype_of_desc, member_paths
from bpfls.source.guards import FALSE, TRUE, UNKNOWN, Guard, all_of
from bpfls.source.hops import find_member
from bpfls.source.intrinsics import apply_path, path_elements
from bpfls.source.model import Accessor
from bpfls.source.positions import Range
from bpfls.source.ppexpr import ConstEval, EvalError, parse_int_literal
from bpfls.source.values import NONE, Chain, Val
from bpfls.source.walk_base import STATEMENT_TYPES
from bpfls.source.walk_scalars import ScalarWalker

if TYPE_CHECKING:
    from tree_sitter import Node


class ExpressionWalker(ScalarWalker):
    """Expressions: their types, relocations, guards and constants."""

    def expr(self, n: Node) -> Val:
        """An rvalue: open chains are closed as loads (arrays decay: address only)."""
        return self.rvalue(self.lvalue(n))

    def rvalue(self, v: Val, *, through: bool = False) -> Val:
        """The lvalue ``v`` used as a value (``through``: as the base of ``->``)."""
        if v.deref is not None or v.origin is not None:
            v = self.scalar_rvalue(v, through)
        if v.chain is not None:
            if self.types.is_array(v.et):
                self.close(v, "addr")
            else:
                self.close(v, "load")
            return Val(v.et, guard=v.guard, const=v.const, origin=v.origin, deref=v.deref)
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
            return self.call_origin(n, self.call(n))
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
                return Val(v.et.pointer() if v.et is not None else None, addr=a,
                           origin=self.scalar_address(v, arg))
            v = self.expr(arg)
            return Val(self.types.deref(v.et))
        if t == "cast_expression":
            tyd = n.child_by_field_name("type")
            val = n.child_by_field_name("value")
            if tyd is not None and (val is None or val.is_missing) and \
                    any(c.type == "abstract_function_declarator" for c in tyd.named_children):
                return self.call_read_as_cast(tyd)
            v = self.expr(val) if val is not None else NONE
            et = None
            if tyd is not None:
                desc = self.tu.lt.desc_of_type_descriptor(tyd, self.src.unit, self.typeof_type)
                if desc[0] == "unknown":
                    self._unknown_type(tyd, desc[1])
                et = etype_of_desc(desc)
            return Val(et, guard=v.guard, const=v.const, addr=v.addr,
                       values=v.values if et is None or not et.ptr else None, origin=v.origin)
        if t == "assignment_expression":
            return self.assignment(n)
        if t == "update_expression":
            self.effects += 1
            arg = n.child_by_field_name("argument")
            if arg is not None:
                v = self.lvalue(arg)
                self.close(v, "loadstore")
                self.scalar_stored(v)
                return Val(v.et, origin=v.origin if v.deref is None else None)
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
            if t == "gnu_asm_expression":
                self.effects += 1
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
            return self.call_origin(n, self.call(n))
        if t == "compound_statement":
            return self.statement_expression(n)
        # extension_expression, generic_expression, ERROR, ...: walk what is there
        v = NONE
        for c in n.named_children:
            if c.type in STATEMENT_TYPES:
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
        return Val(last.et, guard=last.guard, const=last.const, origin=last.origin)

    def identifier(self, n: Node) -> Val:
        name = self.text(n)
        found, et = self.lookup(name)
        if found:
            key = self._var_key(name)
            addr = self.var_addr.get(key) if key is not None else None
            if addr is not None:
                self.addr_uses[id(addr)] = self.addr_uses.get(id(addr), 0) + 1
            values = self.param_values.get(name)
            if values is not None and next(s for s in reversed(self.scopes) if name in s) \
                    is self.scopes[0]:
                # not a constant where clang places relocations (before inlining: `a[i]`
                # stays a variable subscript), only where it folds branches
                return Val(et, decl=name, values=values)
            return Val(et, decl=name, guard=self.guard_var(name), addr=addr,
                       origin=self.var_origin.get(key) if key is not None else None)
        tu = self.tu
        if name in tu.functions:
            # a callback (bpf_loop, bpf_for_each_map_elem, ...) runs only if this code does
            tu.refs.setdefault(self.fd.name, set()).add(name)
            tu.call_sites.append((self.fd.name, name, self.guard))
            return Val(EType(0, 1))
        m = tu.macros.get(name)
        if m is None and name in tu.retired:
            m = self.macros_at(n).get(name)
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
            base = self.rvalue(self.lvalue(arg), through=True)
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
            elems = path_elements(self, self.src.tokens(fld.start_byte, fld.end_byte))
            if elems is not None:
                if base.deref is not None:
                    self.record_deref(base.deref, base.deref.loaded if not arrow else
                                      len(base.deref.hops))
                saved = self.expr_override
                self.expr_override = self.rng(n) if self.expr_override is None else saved
                try:
                    if arrow:
                        return apply_path(self, Val(base.et), elems, arrow=True)
                    return apply_path(self, base, elems, arrow=False)
                finally:
                    self.expr_override = saved
        v = self.member(base, rec_et, base_chain, name, fld, n)
        return self.scalar_member(v, base, arrow, arg, name, self.rng(fld), rec_et)

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
        if arg is None:
            return NONE
        base = self.lvalue(arg)
        if base.deref is None and base.origin is None:
            return self._subscript(n, base)
        is_arr = self.types.is_array(base.et)
        return self.scalar_subscript(self._subscript(n, base), base, is_arr, n)

    def _subscript(self, n: Node, base: Val) -> Val:
        idx_node = n.child_by_field_name("index")
        types = self.types
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
        self.effects += 1
        rv = self.expr(right) if right is not None else NONE
        if left is None:
            return NONE
        lv = self.lvalue(left)
        self.close(lv, "store" if o == "=" else "loadstore")
        self.scalar_stored(lv)
        if left.type == "identifier":
            key = self._var_key(self.text(left))
            if key is not None and key in self.var_addr:
                # a new value: later reads are not the address, and the access stays
                self.addr_pinned.add(id(self.var_addr.pop(key)))
        if left.type == "identifier" and o == "=":
            self.set_guard_var(self.text(left), rv.guard)
            self.set_origin(self.text(left), rv.origin)
            return Val(lv.et, guard=rv.guard, origin=rv.origin)
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
            if g is None and lv.values is not None and rv.values is not None:
                return _compare_values(o, lv.values, rv.values)
            return Val(None, guard=g)
        if lv.const is not None and rv.const is not None:
            try:
                c = ConstEval([]).apply(o, (lv.const, False), (rv.const, False))[0]
                return Val(None, const=c)
            except (EvalError, KeyError, ValueError):
                return NONE
        if o == "-" and lv.addr is not None and rv.addr is not None and \
                self._offsets_cancel(lv, rv):
            return Val(lv.et)
        origin = _arithmetic_origin(o, lv, rv, self.types.is_pointer)
        if o in ("+", "-"):
            if self.types.is_pointer(lv.et):
                return Val(lv.et, origin=origin)
            if self.types.is_pointer(rv.et) and o == "+":
                return Val(rv.et, origin=origin)
        return NONE if origin is None else Val(lv.et or rv.et, origin=origin)

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
        return Val(cv.et or av.et, guard=g, origin=cv.origin if cv.origin == av.origin else None)


def _arithmetic_origin(op: str, lv: Val, rv: Val, is_pointer) -> str | None:
    """A number plus or minus an integer (or masked) is a number still."""
    if op not in ("+", "-", "&", "|"):
        return None
    if lv.origin is not None and rv.origin is None and not is_pointer(rv.et):
        return lv.origin
    if rv.origin is not None and lv.origin is None and not is_pointer(lv.et) and op != "-":
        return rv.origin
    return None


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


def _compare_values(op: str, left: frozenset[int], right: frozenset[int]) -> Val:
    """A comparison of two values known to be among constants: constant when every pair of
    them compares alike."""
    truth = {_COMPARE[op](a, b) for a in left for b in right}
    if len(truth) == 1:
        c = int(truth.pop())
        return Val(None, guard=_const_guard(c), const=c)
    return Val(None, values=frozenset((0, 1)))


_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
            "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b}


def _const_guard(c: int | None) -> Guard:
    if c is None:
        return UNKNOWN
    return TRUE if c else FALSE
