"""The relocation walker's kernel pointers held as numbers, and the direct loads through them
(:class:`~bpfls.source.programs.ScalarDeref`).

The verifier sees some kernel pointers as plain numbers (scalars): what
``bpf_get_current_task()`` returns, what a program reads from ``struct pt_regs`` (the kprobe
arguments: ``PT_REGS_PARM1(ctx)``, the parameters of ``BPF_KPROBE``, ``BPF_KRETPROBE``,
``BPF_KSYSCALL``, ``BPF_UPROBE``), a raw tracepoint's arguments (``ctx->args[0]``, the
parameters of ``BPF_PROG`` in a ``raw_tp`` section) and what a probe read gives
(``BPF_CORE_READ(...)``, a variable filled by ``bpf_probe_read_kernel(&p, ...)``). Such a
value keeps its *origin* (:attr:`bpfls.source.values.Val.origin`) through casts, pointer
arithmetic and local variables;
``p->member`` on it is a :class:`~bpfls.source.values.PendingDeref` until the walker knows
whether the member is loaded (``x = p->a.b``, ``p->a->b``: recorded) or only its address taken
(``&p->a``: not recorded, and the address is a number too).

Only origins known for certain count: anything else (``ctx`` itself, a map value, a stack
variable, a ``BPF_PROG`` argument, a value of unknown provenance) has none. A variable keeps an
origin after a branch only when every way through it agrees.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bpfls.source import catalogue
from bpfls.source.catalogue import Family, Memory, ProgramArgs
from bpfls.source.intrinsics import call_args, tok_range
from bpfls.source.positions import Range
from bpfls.source.pptokens import tokens_text
from bpfls.source.programs import ScalarDeref
from bpfls.source.values import PendingDeref, Val
from bpfls.source.walk_base import WalkerBase

if TYPE_CHECKING:
    from tree_sitter import Node

    from bpfls.source.exprtypes import EType
    from bpfls.source.pptokens import Tok

#: libbpf's macros that read a kprobe's argument or return value from ``struct pt_regs``
PT_REGS_READ = re.compile(r"PT_REGS_(?:PARM\d|RC)(?:_CORE)?(?:_SYSCALL)?")
#: the records whose integer members hold a probed function's registers or a raw
#: tracepoint's arguments (a ``raw_tp`` program's context), and the origin of an integer read
#: from one of them
ARGUMENT_RECORDS = {name: f"struct {name}" for name in (
    "pt_regs", "user_pt_regs", "bpf_raw_tracepoint_args")}
ARGUMENT_ORIGINS = frozenset(ARGUMENT_RECORDS.values())
#: sections of raw tracepoints without BTF: a ``BPF_PROG`` parameter there is a number
RAW_TP_SECTION = re.compile(r"raw_(?:tp|tracepoint)(?:\.w)?(?:/|$)")
#: helpers that copy memory into their first argument, as probe reads do
FILL_HELPERS = frozenset({"bpf_probe_read", "bpf_probe_read_kernel", "bpf_probe_read_user",
                          "bpf_copy_from_user", "bpf_copy_from_user_task"})
#: program macros whose parameters come from ``struct pt_regs``
PT_REGS_PARAMS = frozenset({ProgramArgs.KPROBE, ProgramArgs.KRETPROBE, ProgramArgs.KSYSCALL})
#: an origin quoted from the source is cut to this length
MAX_ORIGIN = 60


class ScalarWalker(WalkerBase):
    """Origins of values and variables, and the dereferences through them."""

    # -- where origins come from -------------------------------------------------------------
    def scalar_params(self) -> None:
        """Number the parameters as variables; those a kprobe-style program macro reads from
        ``struct pt_regs`` are numbers."""
        fd = self.fd
        m = catalogue.MACROS.get(fd.macro or "")
        how = m.program_args if m is not None else None
        raw_tp = how is not None and how.ctx_array and \
            RAW_TP_SECTION.match(fd.info.section or "") is not None
        for name, _, _ in fd.params:
            key = self.new_var(self.scopes[0], name)
            if how in PT_REGS_PARAMS:
                self.var_origin[key] = f"{fd.macro} parameter '{name}'"
            elif raw_tp:
                self.var_origin[key] = f"{fd.macro} parameter '{name}' of a raw tracepoint"

    def new_var(self, scope: dict, name: str) -> int:
        """A new variable ``name`` in ``scope``: its serial number."""
        self.serial += 1
        self.var_serial[(id(scope), name)] = self.serial
        return self.serial

    def call_origin(self, n: Node, v: Val) -> Val:
        """The value of call ``n`` (walked: ``v``), with the origin the callee gives it; a probe
        read into ``&var`` gives ``var`` one."""
        if n.type == "call_expression":
            fn = n.child_by_field_name("function")
        else:
            fn = n.named_children[0] if n.named_children else None
        if fn is None or fn.type != "identifier":
            return v
        name = self.text(fn)
        if any(name in s for s in self.scopes):
            return v
        fd = self.tu.functions.get(name)
        if fd is not None:
            if fd.ret_origin is None:
                return v
            source = fd.ret_origin.rpartition(", from ")[2]
            return v.but(origin=f"{name}(), from {source}")
        if name == "bpf_get_current_task":
            return v.but(origin="bpf_get_current_task()")
        m = catalogue.MACROS.get(name)
        if m is None:
            if PT_REGS_READ.fullmatch(name) and name in self.tu.macros:
                return v.but(origin=_quoted(self.text(n)))
            if name in FILL_HELPERS:
                self._filled(n, name)
            return v
        if m.string:
            return v
        if m.hops and not m.into:
            return v.but(origin=f"{name}()")
        if m.family is Family.READ_FUNCTION or (m.hops and m.into):
            self._filled(n, name)
        elif m.family is Family.BITFIELD and m.memory is Memory.LOAD:
            self._bitfield(n, name)
        return v

    def _bitfield(self, n: Node, name: str) -> None:
        """``BPF_CORE_READ_BITFIELD(s, field)`` loads ``s->field``'s bytes directly."""
        args = call_args(self, n)  # type: ignore[arg-type]
        if not args or len(args) != 2 or len(args[0].toks) != 1:
            return
        var = args[0].toks[0].text
        origin = self.var_origin_of(var)
        if origin is None:
            return
        field = tok_range(self, args[1].toks)  # type: ignore[arg-type]
        start = tok_range(self, args[0].toks).start  # type: ignore[arg-type]
        p = PendingDeref(origin, var, name, field, start, (tokens_text(args[1].toks),),
                         (self.rng(n).end,))
        self.record_deref(p, 1)

    def _filled(self, n: Node, name: str) -> None:
        args = call_args(self, n)  # type: ignore[arg-type]
        if not args or self.silent:
            return
        var = _address_of_variable(args[0].toks)
        if var is None:
            return
        key = self._var_key(var)
        if key is not None:
            self.var_origin[key] = f"{name}()"

    def returned(self, origin: str | None) -> None:
        """A ``return`` of a value of this origin: the function's calls give it when every
        ``return`` does."""
        if self.silent or self.guard.is_false:
            return
        fd = self.fd
        first = not self.returned_any
        self.returned_any = True
        fd.ret_origin = origin if first or fd.ret_origin == origin else None

    def forget_origin(self, name: str) -> None:
        """Variable ``name`` is assigned, or its address taken: what it holds is unknown."""
        if self.silent:
            return
        key = self._var_key(name)
        if key is not None:
            self.var_origin.pop(key, None)

    def set_origin(self, name: str, origin: str | None) -> None:
        if self.silent:
            return
        key = self._var_key(name)
        if key is None:
            return
        if origin is None:
            self.var_origin.pop(key, None)
        else:
            self.var_origin[key] = origin

    def var_origin_of(self, name: str) -> str | None:
        key = self._var_key(name)
        return self.var_origin.get(key) if key is not None else None

    # -- member accesses through numbers -----------------------------------------------------
    def scalar_member(self, v: Val, base: Val, arrow: bool, arg: Node, name: str,
                      name_rng: Range, rec_et: EType | None) -> Val:
        """``base->name`` / ``base.name`` (walked: ``v``), through a number or not."""
        p = base.deref
        if arrow:
            if p is not None:  # base->a->name: the load of base->a came first
                return v.but(origin=None, deref=p.hop(name, name_rng.end))
            if base.origin is not None:
                via = self.producer[-1] if self.producer[-1] != "direct" else None
                p = PendingDeref(base.origin, " ".join(self.text(arg).split()), via, name_rng,
                                 self.rng(arg).start, (name,), (name_rng.end,))
                return v.but(origin=None, deref=p)
        elif p is not None:
            return v.but(origin=None, deref=p.extended("." + name, name_rng.end))
        elif base.origin is not None and base.decl is not None and base.et is not None and \
                not base.et.ptr and self._is_real_pointer(v.et):
            # a pointer in a structure a probe read filled
            return v.but(origin=base.origin)
        if v.et is not None and not self._is_real_pointer(v.et):
            rec = self.types.record(rec_et)
            origin = ARGUMENT_RECORDS.get(rec.name) if rec is not None else None
            if origin is not None:
                return v.but(origin=origin)
        return v

    def _is_real_pointer(self, et: EType | None) -> bool:
        return self.types.is_pointer(et) and not self.types.is_array(et)

    def scalar_subscript(self, v: Val, base: Val, is_arr: bool, n: Node) -> Val:
        """``base[i]`` (walked: ``v``): an array inside memory reached through a number, or one
        of the registers in ``struct pt_regs``; a pointer member loaded."""
        p = base.deref
        if p is not None:
            if is_arr:
                idx = n.child_by_field_name("index")
                text = " ".join(self.text(idx).split()) if idx is not None else ""
                return v.but(origin=None, deref=p.extended(f"[{text}]", self.rng(n).end))
            self.record_deref(p, len(p.hops))
            return v
        if is_arr and base.origin in ARGUMENT_ORIGINS and not self.types.is_pointer(v.et):
            return v.but(origin=base.origin)
        return v

    def scalar_rvalue(self, v: Val, through: bool) -> Val:
        """``v`` used as a value: a member reached through a number is loaded (``through``: the
        base of a further ``->``, recorded with that one); an array is its address."""
        p = v.deref
        if self.types.is_array(v.et):
            if p is not None:
                self.record_deref(p, p.loaded)
            return v.but(origin=p.origin if p is not None else None)
        if p is None or through:
            return v
        self.record_deref(p, len(p.hops))
        return v.but(origin=None)

    def scalar_address(self, v: Val, arg: Node) -> str | None:
        """``&arg`` (walked: ``v``): the origin of the address; taking a variable's address
        forgets its origin (it can be written through)."""
        p = v.deref
        if p is not None:
            self.record_deref(p, p.loaded)
            return p.origin
        if arg.type == "identifier":
            self.forget_origin(self.text(arg))
        return None

    def scalar_stored(self, v: Val) -> None:
        """``v`` is written: the hops loaded on the way are loads all the same."""
        p = v.deref
        if p is not None:
            self.record_deref(p, p.loaded)

    def record_deref(self, p: PendingDeref, hops: int) -> None:
        if hops <= 0 or self.silent or self.guard.is_false:
            return
        unit = self.src.unit
        if not unit.path or unit.virtual:
            return
        via = p.via
        if via is None and self.fd.origin:  # a function a macro writes
            via = _macro_name(self.fd.origin)
        self.fd.derefs.append(ScalarDeref(
            unit.path, p.first, Range(p.start, p.ends[hops - 1]), self.fd.name, p.origin,
            p.base, p.hops[:hops], via=via, guard=self.guard))

    # -- control flow ---------------------------------------------------------------------
    def origins_fork(self) -> dict[int, str]:
        """The variables' origins before a branch (the walk goes on with a copy)."""
        before = self.var_origin
        self.var_origin = dict(before)
        return before

    def origins_join(self, other: dict[int, str]) -> None:
        """Two ways meet: a variable keeps the origin both agree on."""
        cur = self.var_origin
        self.var_origin = {k: o for k, o in cur.items() if other.get(k) == o}


def _address_of_variable(toks: list[Tok]) -> str | None:
    """``&name``, ``(void *)&name``, ``&(name)``: the name."""
    texts = [t.text for t in toks]
    while len(texts) > 2 and texts[0] == "(" and ")" in texts:  # casts
        close = texts.index(")")
        if close == len(texts) - 1:
            texts = texts[1:-1]
            continue
        texts = texts[close + 1:]
    if texts[:1] != ["&"]:
        return None
    rest = texts[1:]
    while len(rest) >= 3 and rest[0] == "(" and rest[-1] == ")":
        rest = rest[1:-1]
    if len(rest) == 1 and (rest[0][:1].isalpha() or rest[0][:1] == "_"):
        return rest[0]
    return None


def _macro_name(use: bytes) -> str:
    """The macro a use (``DEFINE_PROBE(x, ...)``) invokes."""
    m = re.match(rb"\s*(\w+)", use)
    return m.group(1).decode() if m else "a macro"


def _quoted(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ORIGIN else text[:MAX_ORIGIN - 3] + "..."
