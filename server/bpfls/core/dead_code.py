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


class _SectionCode:
    """What splitting one code section into blocks needs, found once."""

    def __init__(self, obj: BpfObject, name: str, sec: CodeSection) -> None:
        self.name = name
        self.fields = sec.fields
        codes = sec.fields[0]
        self.n = len(codes)
        self.classes = codes.translate(_CLASS)
        self.funcs = sorted((f.start, f.end) for f in obj.functions if f.section == name)
        self.fstarts = [a for a, _ in self.funcs]
        self.fstart_set = set(self.fstarts)
        leaders = set(self.fstarts) | {0}
        self.targets: set[int] = set()
        classes, offs, imms = self.classes, sec.fields[3], sec.fields[4]
        for i in jump_slots(codes):
            cls, jop = classes[i], codes[i] & 0xF0
            if cls == _JMP and jop == _CALL_OP:
                continue
            leaders.add(i + 1)
            if cls == _JMP and jop == _EXIT_OP:
                continue
            t = i + 1 + (imms[i] if cls == _JMP32 and jop == _JA_OP else offs[i])
            self.targets.add(t)
            leaders.add(t)
        self.ordered = sorted(x for x in leaders if 0 <= x < self.n)


class FlowGraph:
    """The basic blocks of an object's code, the functions each function calls or takes the
    address of, and the jumps relocated constants may decide; kernel-independent, kept with
    the object (:func:`flow_graph`). A block is made when a walk first needs it."""

    def __init__(self, obj: BpfObject) -> None:
        self.obj = obj
        self.relocated = frozenset((r.section, r.insn_off // 8) for r in obj.ext.relocations)
        self.code = {name: _SectionCode(obj, name, sec) for name, sec in obj.sections.items()}
        self.starts: dict[str, list[int]] = {name: c.ordered for name, c in self.code.items()}
        self._blocks: dict[tuple[str, int], _Block | None] = {}
        #: the walks done: their roots → (the branches each met and how it decided them,
        #: the blocks it reached); a kernel that decides those alike walks the same
        self.walks: dict[tuple, list[tuple[tuple[tuple[_Decider, bool | None], ...],
                                           frozenset[tuple[str, int]] | None]]] = {}
        #: (section, function start) → the functions it calls or takes the address of
        self.callees: dict[tuple[str, int], list[BpfFunction]] = {}
        #: (section, block start) → the functions that block calls or takes the address of
        self.block_callees: dict[tuple[str, int], list[BpfFunction]] = {}
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

    def block(self, name: str, start: int) -> _Block | None:
        """The block beginning at ``start`` of section ``name`` (``None``: no block starts
        there)."""
        key = (name, start)
        if key in self._blocks:
            return self._blocks[key]
        c = self.code.get(name)
        b = None
        if c is not None:
            k = bisect_right(c.ordered, start) - 1
            if k >= 0 and c.ordered[k] == start:
                b = self._make(c, k)
        self._blocks[key] = b
        return b

    def _make(self, c: _SectionCode, k: int) -> _Block:
        codes, dsts, srcs, offs, imms = c.fields
        classes, ordered = c.classes, c.ordered
        start = ordered[k]
        end = ordered[k + 1] if k + 1 < len(ordered) else c.n
        fi = bisect_right(c.fstarts, start)
        lo, hi = (c.funcs[fi - 1] if fi and start < c.funcs[fi - 1][1] else (start, end))
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
                t = last + 1 + (imms[last] if cls == _JMP32 and jop == _JA_OP else offs[last])
                if jop == _JA_OP:
                    succ = (t,)
                else:
                    succ = (last + 1, t)
                    if not (cls == _JMP and jop == _JCOND_OP) and not op & 0x08:
                        decider = self._decider(c.name, codes, classes, dsts, srcs, offs,
                                                imms, last, c.targets, c.fstart_set)
        else:
            succ = (end,)
        leaves = any(not lo <= s < hi for s in succ)
        return _Block(succ, decider, leaves)

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
    holding = {(f.section, f.start) for t in targets
               if (f := obj.function_at(*t)) is not None}
    roots: list[tuple[str, int]] = []
    for f in programs:
        closure = _closure(g, f)
        if not any((h.section, h.start) in holding for h in closure):
            continue  # this program cannot lead to a target: not walked
        roots.append((f.section, f.start))
        if not lazy_globals:
            roots.extend((h.section, h.start) for h in closure if h.verified_alone)
    # a walk only depends on its roots and on how the branches it meets are decided: one
    # whose branches this kernel decides alike is this kernel's walk
    done = g.walks.setdefault(tuple(roots), [])
    for decided, visited in done:
        if all(d.taken(patches.get(d.source)) is t for d, t in decided):
            seen = visited
            break
    else:
        decisions: dict[_Decider, bool | None] = {}
        seen = _walk(g, patches, roots, decisions)
        if len(done) < WALKS_KEPT:
            done.append((tuple(decisions.items()), seen))
    if seen is None:
        return set()  # code the walk cannot follow: prove nothing
    return {t for t in targets if (t[0], g.block_of(t)) not in seen}


#: walks kept per object and roots (see :func:`dead`)
WALKS_KEPT = 8


def _walk(g: FlowGraph, patches: Mapping[Loc, object], roots: list[tuple[str, int]],
          decisions: dict[_Decider, bool | None]) -> frozenset[tuple[str, int]] | None:
    """The blocks reached from ``roots`` with the branches ``patches`` decide cut (``None``
    when it meets code it cannot follow); each branch met is recorded in
    ``decisions`` with how it went (``None``: both ways)."""
    todo = list(roots)
    seen: set[tuple[str, int]] = set()
    callees = g.block_callees
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        b = g.block(*key)
        if b is None or b.leaves:
            return None
        for f in callees.get(key, ()):
            todo.append((f.section, f.start))
        succ = b.succ
        d = b.decider
        if d is not None:
            taken = decisions[d] = d.taken(patches.get(d.source))
            if taken is not None:
                succ = (succ[1],) if taken else (succ[0],)
        todo.extend((key[0], s) for s in succ)
    return frozenset(seen)


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
