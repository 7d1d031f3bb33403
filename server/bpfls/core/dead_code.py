"""A quick proof that a poisoned instruction is dead on a kernel: the branches that the
existence checks decide.

Most CO-RE guards compile to a relocated constant compared right away: ``r1 = <field_exists>``
(patched to 0 or 1), ``if r1 == 0 goto L``. Once per object, :class:`FlowGraph` finds each
conditional jump whose operand is such a constant on every path to it: the value's definition
lies on straight-line code before the jump (no jump lands in between), through register copies
and ALU operations with immediates. Per kernel, :func:`dead` walks the control flow from the
programs libbpf loads with the branches those constants decide cut, and returns the asked-about
instructions the walk never visits.

The walk only drops an edge the verifier drops too (a branch on a constant), and keeps every
other one: a call reaches its whole callee and comes back, a callback or a function whose
address is taken is reached with the instruction that takes it, a global function is reached
like the verifier checks it (see :func:`bpfls.core.reach.reach`). So what it does not visit, the
verifier never visits; what it visits may still be dead to the verifier, which knows more
(values through memory, paths, ranges): :mod:`bpfls.core.reach` decides those. Code it cannot
follow (a jump out of its function) makes it give up on that program: nothing is proven there.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from bpfls.core.bpf_ops import U32, U64, alu, decide, s32
from bpfls.core.objfile import LDIMM64, BpfFunction, BpfObject, CodeSection, jump_slots

Loc = tuple[str, int]

_CLASS = bytes(b & 7 for b in range(256))
_JMP, _JMP32, _ALU, _ALU64, _LDX = 5, 6, 4, 7, 1
_CALL_OP, _EXIT_OP, _JA_OP, _JCOND_OP = 0x80, 0x90, 0x00, 0xE0


@dataclass(frozen=True)
class _Decider:
    """A conditional jump whose operand is a relocated constant on every path to it."""

    source: Loc  # the relocated instruction that defines the value
    width: int  # what the source gives: 64 (ldimm64), 64 (ALU64 mov) or 32 (ALU32 mov)
    ldimm: bool
    ops: tuple[tuple[int, int, bool], ...]  # ALU ops applied since: (op, immediate, 64-bit)
    jop: int
    imm: int
    wide: bool  # JMP (64-bit compare) or JMP32

    def taken(self, patch: object) -> bool | None:
        """Is the jump taken when the source is patched with ``patch`` (``None``: unknown)?"""
        if type(patch) is not int:
            return None
        if self.ldimm:
            v = patch & U64
        else:
            v = s32(patch) & (U64 if self.width == 64 else U32)
        for op, imm, is64 in self.ops:
            r = alu(op, v, imm & U64 if is64 else imm & U32, 64 if is64 else 32)
            if r is None:
                return None
            v = r
        return decide(self.jop, v, self.imm & U64, 64 if self.wide else 32)


@dataclass(frozen=True)
class _Block:
    succ: tuple[int, ...]  # successor blocks when nothing is decided (fallthrough first)
    decider: _Decider | None  # for a conditional jump ending the block
    leaves: bool  # control may flow out of its function: not followed


class FlowGraph:
    """The basic blocks of an object's code, the functions each function calls or takes the
    address of, and the jumps relocated constants may decide; kernel-independent, built once
    per object (:func:`flow_graph`)."""

    def __init__(self, obj: BpfObject) -> None:
        self.obj = obj
        self.relocated = frozenset((r.section, r.insn_off // 8) for r in obj.ext.relocations)
        self.blocks: dict[str, dict[int, _Block]] = {}
        self.starts: dict[str, list[int]] = {}
        #: (section, function start) → the functions it calls or takes the address of
        self.callees: dict[tuple[str, int], list[BpfFunction]] = {}
        #: (section, block start) → the functions that block calls or takes the address of
        self.block_callees: dict[tuple[str, int], list[BpfFunction]] = {}
        #: every decider, in a fixed order: the branches they decide on a kernel say all
        #: that :func:`dead` reads of it, so its answers are kept by them
        self.deciders: list[_Decider] = []
        self.answers: dict[tuple, frozenset[Loc]] = {}
        for name, sec in obj.sections.items():
            self._section(name, sec)
        for (name, idx), site in obj.sites.items():
            if site.target is None:
                continue
            f = obj.function_at(name, idx)
            if f is not None:
                self.callees.setdefault((f.section, f.start), []).append(site.target)
            b = self.block_of((name, idx))
            if b is not None:
                self.block_callees.setdefault((name, b), []).append(site.target)

    def block_of(self, loc: Loc) -> int | None:
        starts = self.starts.get(loc[0])
        if not starts:
            return None
        i = bisect_right(starts, loc[1])
        return starts[i - 1] if i else None

    def _section(self, name: str, sec: CodeSection) -> None:
        codes, dsts, srcs, offs, imms = sec.fields
        n = len(codes)
        classes = codes.translate(_CLASS)
        funcs = sorted((f.start, f.end) for f in self.obj.functions if f.section == name)
        fstarts = [a for a, _ in funcs]
        leaders = set(fstarts) | {0}
        targets: set[int] = set()
        for i in jump_slots(codes):
            cls, jop = classes[i], codes[i] & 0xF0
            if cls == _JMP and jop == _CALL_OP:
                continue
            leaders.add(i + 1)
            if cls == _JMP and jop == _EXIT_OP:
                continue
            t = i + 1 + (imms[i] if cls == _JMP32 and jop == _JA_OP else offs[i])
            targets.add(t)
            leaders.add(t)
        fstart_set = set(fstarts)
        ordered = sorted(x for x in leaders if 0 <= x < n)
        self.starts[name] = ordered
        blocks: dict[int, _Block] = {}
        for k, start in enumerate(ordered):
            end = ordered[k + 1] if k + 1 < len(ordered) else n
            fi = bisect_right(fstarts, start)
            lo, hi = (funcs[fi - 1] if fi and start < funcs[fi - 1][1] else (start, end))
            last = end - 1
            if last - 1 >= start and codes[last - 1] == LDIMM64:
                last -= 1  # the block ends with an ldimm64 (two slots)
            cls, op = classes[last], codes[last]
            jop = op & 0xF0
            decider = None
            if cls in (_JMP, _JMP32) and not (cls == _JMP and jop == _CALL_OP):
                if cls == _JMP and jop == _EXIT_OP:
                    succ: tuple[int, ...] = ()
                else:
                    t = last + 1 + (imms[last] if cls == _JMP32 and jop == _JA_OP
                                    else offs[last])
                    if jop == _JA_OP:
                        succ = (t,)
                    else:
                        succ = (last + 1, t)
                        if not (cls == _JMP and jop == _JCOND_OP) and not op & 0x08:
                            decider = self._decider(name, codes, classes, dsts, srcs, offs,
                                                    imms, last, targets, fstart_set)
            else:
                succ = (end,)
            leaves = any(not lo <= s < hi for s in succ)
            if decider is not None:
                self.deciders.append(decider)
            blocks[start] = _Block(succ, decider, leaves)
        self.blocks[name] = blocks

    def _decider(self, name: str, codes: bytes, classes: bytes, dsts: Sequence[int],
                 srcs: Sequence[int], offs: Sequence[int], imms: Sequence[int], j: int,
                 targets: set[int], fstarts: set[int]) -> _Decider | None:
        """Walk back from the jump at ``j`` along straight-line code to the definition of its
        operand; a relocated move there (after copies and ALU immediates) decides it."""
        reg = dsts[j]
        ops: list[tuple[int, int, bool]] = []
        p = j
        for _ in range(64):
            if p in targets or p in fstarts or p == 0:
                return None  # a merge point or a function's entry: not on one path
            i = p - 1
            if i >= 1 and codes[i - 1] == LDIMM64:
                i -= 1  # the slot before is an ldimm64's second half
            op, cls = codes[i], classes[i]
            if cls in (_JMP, _JMP32):
                jop = op & 0xF0
                if cls == _JMP and jop == _CALL_OP:
                    if reg <= 5:
                        return None  # a call sets r0 and clobbers r1-r5
                elif jop in (_JA_OP, _EXIT_OP) or (cls == _JMP and jop == _JCOND_OP):
                    return None  # no fallthrough into p: p is dead or a jump target
                p = i
                continue
            if op == LDIMM64:
                if dsts[i] != reg:
                    p = i
                    continue
                if (name, i) in self.relocated:
                    return self._made((name, i), 64, True, ops, codes[j], imms[j], classes[j])
                return None
            if cls in (_ALU, _ALU64):
                if dsts[i] != reg:
                    p = i
                    continue
                aop, is64, reloc = op & 0xF0, cls == _ALU64, (name, i) in self.relocated
                if aop == 0xB0 and offs[i] == 0:
                    if not op & 0x08:  # mov K
                        if reloc:
                            return self._made((name, i), 64 if is64 else 32, False, ops,
                                              codes[j], imms[j], classes[j])
                        return None
                    if is64:  # a copy from another register
                        reg = srcs[i]
                        p = i
                        continue
                    return None
                if not op & 0x08 and not reloc and aop in _K_OPS:
                    ops.append((aop, imms[i], is64))
                    p = i
                    continue
                return None
            if cls == _LDX and dsts[i] == reg:
                return None  # a load: through memory, beyond this proof
            p = i  # stores write no register
        return None

    @staticmethod
    def _made(source: Loc, width: int, ldimm: bool, ops: list[tuple[int, int, bool]],
              jcode: int, imm: int, jcls: int) -> _Decider:
        return _Decider(source, width, ldimm, tuple(reversed(ops)), jcode & 0xF0, imm,
                        jcls == _JMP)


#: the ALU operations with an immediate the proof computes (add, sub, mul, or, and, lsh, rsh,
#: xor, arsh)
_K_OPS = frozenset({0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xC0})

def flow_graph(obj: BpfObject) -> FlowGraph:
    """The object's :class:`FlowGraph`, built once and kept with the object (each kernel's
    walk reuses it)."""
    g = obj.__dict__.get("_flow_graph")
    if g is None:
        g = obj.__dict__["_flow_graph"] = FlowGraph(obj)
    return g


def dead(obj: BpfObject, patches: Mapping[Loc, object], programs: Collection[BpfFunction],
         targets: Collection[Loc], *, lazy_globals: bool) -> set[Loc]:
    """The ``targets`` that the verifier never visits on the kernel ``patches`` describe,
    as far as the branches on relocated constants show (see the module doc)."""
    g = flow_graph(obj)
    key = (frozenset(targets), frozenset((f.section, f.start) for f in programs), lazy_globals,
           tuple(d.taken(patches.get(d.source)) for d in g.deciders))
    hit = g.answers.get(key)
    if hit is None:
        hit = g.answers[key] = frozenset(_dead(g, obj, patches, programs, targets,
                                               lazy_globals))
    return set(hit)


def _dead(g: FlowGraph, obj: BpfObject, patches: Mapping[Loc, object],
          programs: Collection[BpfFunction], targets: Collection[Loc],
          lazy_globals: bool) -> set[Loc]:
    holding = {(f.section, f.start) for t in targets
               if (f := obj.function_at(*t)) is not None}
    todo: list[tuple[str, int]] = []
    for f in programs:
        closure = _closure(g, f)
        if not any((h.section, h.start) in holding for h in closure):
            continue  # this program cannot lead to a target: not walked
        todo.append((f.section, f.start))
        if not lazy_globals:
            todo.extend((h.section, h.start) for h in closure if h.verified_alone)
    seen: set[tuple[str, int]] = set()
    blocks, callees = g.blocks, g.block_callees
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        b = blocks[key[0]].get(key[1])
        if b is None or b.leaves:
            return set()  # code the walk cannot follow: prove nothing
        for f in callees.get(key, ()):
            todo.append((f.section, f.start))
        succ = b.succ
        d = b.decider
        if d is not None:
            taken = d.taken(patches.get(d.source))
            if taken is not None:
                succ = (succ[1],) if taken else (succ[0],)
        todo.extend((key[0], s) for s in succ)
    return {t for t in targets if (t[0], g.block_of(t)) not in seen}


def _closure(g: FlowGraph, root: BpfFunction) -> list[BpfFunction]:
    """``root`` and every function it leads to by calls and addresses, whatever the values."""
    out: list[BpfFunction] = []
    todo = [root]
    done: set[tuple[str, int]] = set()
    while todo:
        f = todo.pop()
        if (f.section, f.start) in done:
            continue
        done.add((f.section, f.start))
        out.append(f)
        todo.extend(g.callees.get((f.section, f.start), ()))
    return out
