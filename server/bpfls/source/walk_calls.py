"""The relocation walker's calls: the program's own functions (walked first, their return
guard used), the CO-RE intrinsics (:mod:`bpfls.source.intrinsics`), the helpers that return
kernel pointers, the program's macros (expanded and walked), and the reads the program
definition macros make for their parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bpfls.source import catalogue, headers
from bpfls.source.catalogue import Family, ProgramArgs
from bpfls.source.exprtypes import EType, etype_of_desc
from bpfls.source.guards import FALSE
from bpfls.source.intrinsics import call_intrinsic
from bpfls.source.kernel_names import (
    helper_named,
    ksym_checked,
    printf_helper,
    via_macro,
)
from bpfls.source.macros import Expander, MacroDef
from bpfls.source.pptokens import IDENT, matching_paren, tokenize
from bpfls.source.programs import KernelCall
from bpfls.source.snippets import snippet_body
from bpfls.source.values import NONE, Val
from bpfls.source.walk_base import TERMINATORS, WalkerBase

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.translation_unit import TranslationUnit

#: how deeply macro expansions may nest
MAX_MACRO_DEPTH = 16
#: how far a macro invocation tree-sitter could not parse is looked for its end
BROKEN_CALL_BYTES = 1 << 16
#: the CO-RE intrinsics that only give a constant (no call, no load of their own)
PURE_FAMILIES = frozenset({Family.FIELD_INFO, Family.TYPE_INFO, Family.ENUM_INFO,
                           Family.BUILTIN})


class CallWalker(WalkerBase):
    """Calls and macro expansions."""

    #: the macro invocations being walked, outermost first (their nodes)
    expansion_nodes: tuple = ()

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
                    if intrinsic.family not in PURE_FAMILIES:
                        self.effects += 1
                    if name == "bpf_core_cast":
                        # the macro calls the kfunc libbpf's header declares (weak)
                        self._kernel_call("bpf_rdonly_cast", n, fn, name)
                    helper = tu.probe_helper(intrinsic)
                    if helper is not None:
                        self._kernel_call(helper, n, n, via_macro(self.src, n, "") or name)
                    saved = self.expansion_nodes
                    self.expansion_nodes = saved + (n,)
                    try:
                        return call_intrinsic(self, intrinsic, n)
                    finally:
                        self.expansion_nodes = saved
                m = tu.macros.get(name)
                if m is None and name in tu.retired:
                    m = self.macros_at(n).get(name)
                if m is not None and m.params is not None:
                    return self.expand_macro(n, n.start_byte, n.end_byte)
        self.effects += 1
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
        if name in TERMINATORS:
            return NONE
        if name is not None:
            self._callee(name, n, fn, len(arg_vals))
            if name in tu.prototypes:
                return Val(tu.prototypes[name])
            ret = headers.HELPER_RETURNS.get(name)
            if ret is not None:
                d = tu.lt.desc_from_tokens(tokenize(ret.encode()))
                return Val(etype_of_desc(d) if d is not None else None)
        return Val(None)

    # -- helpers and kfuncs ----------------------------------------------------------------
    def _callee(self, name: str, n: Node, fn: Node, nargs: int) -> None:
        """Record the call ``n`` of ``name`` (not a function of the program) when it calls a
        helper or a kfunc: by name, through a macro standing for one, or through libbpf's
        printing macros (the built-in headers name them without a definition)."""
        tu = self.tu
        if any(name in s for s in self.scopes):
            return  # a local function pointer
        callee = name if name in tu.kfuncs else helper_named(name, tu.helper_pointers)
        if callee is not None:
            self._kernel_call(callee, n, fn, via_macro(self.src, fn, name))
            return
        m = tu.macros.get(name)
        if m is None:
            helper = printf_helper(name, nargs)
            if helper is not None:
                self._kernel_call(helper, n, n, via_macro(self.src, n, "") or name)
            return
        alias = _alias(tu.macros, name)
        if alias is None:
            return
        callee = alias if alias in tu.kfuncs else helper_named(alias, tu.helper_pointers)
        if callee is not None:
            self._kernel_call(callee, n, fn, via_macro(self.src, fn, name) or name)

    def _kernel_call(self, callee: str, n: Node, at: Node, via: str | None) -> None:
        if self.silent or self.guard.is_false or self.src.unit.virtual:
            return  # not evaluated, or dead code clang removes
        tu = self.tu
        checked = callee in tu.kfuncs and ksym_checked(n, callee, self.expansion_nodes)
        self.fd.kcalls.append(KernelCall(callee, self.src.unit.path, self.rng(at), self.fd.name,
                                         guard=self.guard, ksym_checked=checked, via=via))

    def call_read_as_cast(self, tyd: Node) -> Val:
        """``(f(enum e, V))``, which tree-sitter reads as a cast to a function type with its
        operand missing (a type among the arguments, inside parentheses): walk ``f(...)`` as
        the call it is."""
        toks = self.src.tokens(tyd.start_byte, tyd.end_byte)
        snip, body = snippet_body(self.src.unit, toks,
                                  self.src.origin(tyd.start_byte, tyd.end_byte))
        stmts = [c for c in body.named_children if c.type != "comment"] \
            if body is not None else []
        call = stmts[0] if len(stmts) == 1 else None
        if call is not None and call.type == "expression_statement" and call.named_children:
            call = call.named_children[0]
        if call is None or call.type not in ("call_expression", "macro_type_specifier"):
            return NONE
        saved_src = self.src
        self.src = snip
        try:
            return self.lvalue(call)
        finally:
            self.src = saved_src

    def expand_macro(self, n: Node, start: int, end: int) -> Val:
        """Expand the macro invocation ``code[start:end]`` and walk the expansion."""
        toks = self.src.tokens(start, end)
        if not toks:
            return NONE
        if self.depth > 300 or len(self.producer) > MAX_MACRO_DEPTH:
            return self._gave_up(toks[0].text, toks, "nested too deeply", n)
        try:
            exp = Expander(self.macros_at(n)).expand(toks)
        except RecursionError:  # pragma: no cover
            return self._gave_up(toks[0].text, toks, "nested too deeply", n)
        if not exp:
            return NONE
        snip, body = snippet_body(self.src.unit, exp, self.src.origin(start, end))
        if body is None:
            return self._gave_up(toks[0].text, exp, "its expansion does not parse", n)
        saved_src = self.src
        self.src = snip
        macro_name = toks[0].text
        self.producer.append(macro_name if self.producer[-1] == "direct" else self.producer[-1])
        saved_nodes = self.expansion_nodes
        self.expansion_nodes = saved_nodes + (n,)
        try:
            stmts = [c for c in body.named_children if c.type != "comment"]
            if len(stmts) == 1 and stmts[0].type == "expression_statement" and \
                    stmts[0].named_children:
                return self.lvalue(stmts[0].named_children[0])
            for c in stmts:
                self.stmt(c)
            return NONE
        finally:
            self.expansion_nodes = saved_nodes
            self.producer.pop()
            self.src = saved_src

    def expand_statements(self, n: Node) -> bool:
        """Statement ``n`` begins with object-like macros written as statements (``STEP STEP
        x = 1;``): walk their expansion, then the rest of ``n``, as statements of the enclosing
        block (both at once when apart they do not parse); True when it never completes
        normally."""
        toks = self.src.tokens(n.start_byte, n.end_byte)
        macros = self.macros_at(n)
        lead = 0
        while lead < len(toks) and toks[lead].kind == IDENT and \
                (m := macros.get(toks[lead].text)) is not None and m.params is None:
            lead += 1
        if not lead:
            return False
        if self.depth > 300 or len(self.producer) > MAX_MACRO_DEPTH:
            self._gave_up(toks[0].text, toks, "nested too deeply", n)
            return False
        try:
            parts = [Expander(macros).expand(toks[:lead]), toks[lead:]]
        except RecursionError:  # pragma: no cover
            self._gave_up(toks[0].text, toks, "nested too deeply", n)
            return False
        origin = self.src.origin(n.start_byte, n.end_byte)
        bodies = [snippet_body(self.src.unit, p, origin) for p in parts if p]
        if any(b is None or b.has_error for _, b in bodies):
            whole = snippet_body(self.src.unit, parts[0] + parts[1], origin)
            if whole[1] is None or whole[1].has_error:
                self._gave_up(toks[0].text, parts[0], "its expansion does not parse", n)
                if whole[1] is None:
                    return False
            bodies = [whole]
        terminated = False
        for i, (snip, body) in enumerate(bodies):
            assert body is not None
            saved_src = self.src
            self.src = snip
            macro = i == 0
            if macro:
                self.producer.append(toks[0].text if self.producer[-1] == "direct"
                                     else self.producer[-1])
            saved_nodes = self.expansion_nodes
            self.expansion_nodes = saved_nodes + (n,)
            try:
                stmts = [c for c in body.named_children if c.type != "comment"]
                if self.block(stmts, scoped=False):
                    terminated = True
                    self.guard = FALSE
                elif any(c.type == "labeled_statement" for c in stmts):
                    terminated = False
            finally:
                self.expansion_nodes = saved_nodes
                if macro:
                    self.producer.pop()
                self.src = saved_src
        return terminated

    def broken_macro_statement(self, n: Node) -> bool | None:
        """A statement tree-sitter could not parse that begins with a call of a function-like
        macro of the program (``M(struct k, &map, { k.a = p->a; });``: a type or a block as
        an argument): the invocation, found in the text, is expanded and walked as statements
        of the enclosing block, and the nodes it covers are skipped. True when it never
        completes normally; None when the statement is no such call."""
        code = self.src.code
        toks = self.src.tokens(n.start_byte, min(len(code), n.start_byte + 256))
        if len(toks) < 3 or toks[0].kind != IDENT or toks[1].text != "(":
            return None
        macros = self.macros_at(n)
        m = macros.get(toks[0].text)
        if m is None or m.params is None or toks[0].text in catalogue.ALL_INTRINSICS:
            return None
        close = matching_paren(toks, 1)
        if close < 0:
            toks = self.src.tokens(n.start_byte,
                                   min(len(code), n.start_byte + BROKEN_CALL_BYTES))
            close = matching_paren(toks, 1)
        if close < 0:
            return None
        if close + 1 < len(toks) and toks[close + 1].text == ";":
            close += 1
        inv = toks[:close + 1]
        self.consumed = (self.src, inv[-1].end)
        if self.depth > 300 or len(self.producer) > MAX_MACRO_DEPTH:
            self._gave_up(toks[0].text, inv, "nested too deeply", n)
            return False
        try:
            exp = Expander(macros).expand(inv)
        except RecursionError:  # pragma: no cover
            self._gave_up(toks[0].text, inv, "nested too deeply", n)
            return False
        snip, body = snippet_body(self.src.unit, exp, self.src.origin(inv[0].start, inv[-1].end))
        if body is None or body.has_error:
            self._gave_up(toks[0].text, exp, "its expansion does not parse", n)
            if body is None:
                return False
        saved_src = self.src
        self.src = snip
        self.producer.append(toks[0].text if self.producer[-1] == "direct"
                             else self.producer[-1])
        saved_nodes = self.expansion_nodes
        self.expansion_nodes = saved_nodes + (n,)
        try:
            return self.block([c for c in body.named_children if c.type != "comment"],
                              scoped=False)
        finally:
            self.expansion_nodes = saved_nodes
            self.producer.pop()
            self.src = saved_src

    def _consumed(self, c: Node) -> bool:
        """Node ``c`` lies inside a macro invocation :meth:`broken_macro_statement` walked."""
        got = self.consumed
        return got is not None and got[0] is self.src and c.start_byte < got[1]

    def _gave_up(self, name: str, toks, why: str, n: Node) -> Val:
        if any(t.kind == IDENT and t.text in catalogue.ALL_INTRINSICS for t in toks) or \
                any(catalogue.uses_core(m.text) for t in toks
                    if (m := self.tu.macros.get(t.text)) is not None):
            self.incomplete(f"the macro '{name}' ({why})", self.rng(n))
        return NONE

    def offsetof(self, n: Node) -> Val:
        if "offsetof" in self.tu.macros:
            return self.expand_macro(n, n.start_byte, n.end_byte)
        return NONE

    # -- the program macros' implicit reads ------------------------------------------------
    def program_macro_entry(self, macro: str, body: Node | None) -> None:
        """A function defined with a program macro: the type of ``ctx``, and the reads the
        macro makes for the parameters."""
        self.scopes[0]["ctx"] = _ctx_type(self.tu, macro)
        if body is not None:
            self._program_macro_reads(body)

    def _program_macro_reads(self, body: Node) -> None:
        """The reads BPF_KPROBE, BPF_KRETPROBE and BPF_KSYSCALL make for their parameters
        (as many as the libbpf the program includes has ``PT_REGS_PARMn`` macros for).

        A direct load of an unused parameter is dead code clang removes; a CO-RE read
        (``bpf_probe_read_kernel``) is a call and stays whether the value is used or not."""
        fd = self.fd
        m = catalogue.MACROS.get(fd.macro or "")
        kind = m.program_args if m is not None else None
        if kind not in (ProgramArgs.KPROBE, ProgramArgs.KRETPROBE, ProgramArgs.KSYSCALL) or \
                not fd.params:
            return
        body_toks = self.src.tokens(body.start_byte, body.end_byte)
        texts: list[tuple[str, Node | None, bool]] = []  # (text, where, only when used)
        for i, (name, _, node) in enumerate(fd.params):
            is_used = self.reads.read_in(name, body_toks)
            if kind is ProgramArgs.KPROBE and f"PT_REGS_PARM{i + 1}" in self.tu.macros:
                texts.append((f"(void *)PT_REGS_PARM{i + 1}(ctx)", node, is_used))
            elif kind is ProgramArgs.KRETPROBE and i == 0:
                texts.append(("(void *)PT_REGS_RC(ctx)", node, is_used))
            elif kind is ProgramArgs.KSYSCALL and \
                    f"PT_REGS_PARM{i + 1}_CORE_SYSCALL" in self.tu.macros:
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


def _ctx_type(tu: TranslationUnit, macro: str) -> EType | None:
    how = catalogue.MACROS[macro].program_args
    if how is not None and how.ctx_array:
        return EType(tu.lt.int_type("unsigned long long"), 1)
    tid = tu.lt.tag_id("struct", "pt_regs", create_fwd=False)
    return EType(tid, 1) if tid is not None else None
