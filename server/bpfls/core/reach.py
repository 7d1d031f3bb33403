"""Which instructions of a BPF object the verifier can reach on one kernel.

libbpf poisons a relocation it cannot resolve (the instruction becomes ``call 0xbad2310``);
that fails the load only if the verifier reaches it. The verifier explores every path from
each program's first instruction, path-sensitively, and never visits a branch whose condition
it knows: after CO-RE relocation the existence checks are constants (``r1 = 0; if r1 == 0
goto ...``), so what they guard is dead on a kernel that lacks the field. :func:`reach`
repeats that exploration over an abstract state and returns the instructions it visits.

**What it follows from the verifier.**

- Entry points: every program that is loaded (a function outside ``.text`` whose section does
  not start with ``?``, or the ones asked for), each with unknown arguments (``r1`` is the
  context). A global subprogram (default visibility) that a reachable instruction calls is
  verified on its own with unknown arguments; the caller gets an unknown ``r0``. A static
  subprogram is explored from each reachable call site with the caller's registers and stack
  (up to 8 frames, as the verifier allows), so its return value is known to the caller on
  every path where it is a constant (a non-inlined ``static bool has_x(void) { return
  bpf_core_field_exists(...); }`` guards its caller).
- Callbacks: ``bpf_loop``, ``bpf_for_each_map_elem``, ``bpf_find_vma`` and
  ``bpf_user_ringbuf_drain`` run their callback in the caller's context (the callback's
  context argument is the caller's pointer), any number of times: after each run the state
  flows both to another run and past the call. Any other function whose address reaches a
  helper or kfunc (``bpf_timer_set_callback``, ...) is verified on its own like a global
  function, and so is a function whose address was taken but never reached a call.
- Registers ``r0``–``r10`` hold a known constant, a pointer into a known frame's stack at a
  known offset, a known function's address, or something unknown. ALU and ALU32 ``mov``,
  ``add``, ``sub``, ``mul``, ``and``, ``or``, ``xor``, ``lsh``, ``rsh`` and ``arsh`` on
  constants are computed (32-bit operations truncate and zero-extend; ``movsx`` sign-extends);
  a shift by the width or more is unknown, as the verifier has it. ``ldimm64`` gives its
  constant, a function's address, or unknown for a map or global data; a relocated
  instruction gets the value libbpf patched in.
- The stack: an 8-byte store of a known value at an 8-aligned offset is a spill the verifier
  keeps, and an 8-byte load at the same offset fills it back; a register store of zero
  (any size) leaves zero bytes that read back as zero (``STACK_ZERO``). Any other store, and
  any store overlapping a kept one, makes the bytes unknown. A helper, kfunc or global
  function that gets a stack pointer may write from there to the top of that frame (the
  probe-read helpers exactly their size argument; ``bpf_map_lookup_elem`` and the other
  read-only ones nothing).
- Branches (``JMP``/``JMP32``, ``K`` or ``X`` sources): a branch is skipped only when both
  operands are known and decide it; the equal side of ``== 0`` learns the register is zero.
  ``ja``, ``gotol``, ``exit``; ``may_goto`` goes both ways.
- A reached poisoned instruction is a load failure on that kernel. The verifier stops at the
  first it meets; the model goes on past it (with the instruction's result unknown), so that
  each instruction's answer is whether the verifier reaches it once the failures before it on
  its path are set aside, and every poisoned instruction that can fail the load is found.

**What it approximates, and which way it errs.** The verifier knows more than this model: it
keeps ranges and known bits of unknown values, relations between registers, constants spilled
in fewer than 8 bytes (kernels from 5.16), stored immediates (``*(u64 *)(r10 - 8) = 0``),
narrowing fills, division, negation and byte swaps of constants, frozen read-only maps
(``.rodata``, ``.kconfig``), and that some pointers are never null. Each of those only lets
the verifier prune more, so the model can reach an instruction the verifier never visits but
never misses one it visits: an error of the model says "may execute" where the load succeeds,
never the reverse. The state cache is bounded: after :data:`WIDEN_AFTER` different states at
one point (loops), new states are joined with the old ones (values that differ are forgotten;
a stack pointer that differs becomes "may point anywhere in the stack", and a store through
such a pointer forgets every frame's stack), which again only adds paths. When the step
:data:`BUDGET` runs out, or the code is beyond the model (a call or jump out of its
function, an unknown opcode, recursion, too deep a call chain), the result says so
(``complete`` is false, with ``reasons``) and every instruction not yet reached that the
unfinished entry point could lead to is "may execute" (``undecided``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from bpfls.btf import Btf
from bpfls.core.bpf_ops import (
    ATOMIC_CMPXCHG,
    ATOMIC_FETCH,
    ATOMIC_XCHG,
    BPF_ALU,
    BPF_ALU64,
    BPF_JMP,
    BPF_JMP32,
    BPF_LD,
    BPF_LDX,
    BPF_ST,
    BPF_STX,
    CALL_OP,
    EXIT,
    JA,
    JCOND,
    MODE_ABS,
    MODE_ATOMIC,
    MODE_IND,
    MODE_MEM,
    READ_ONLY,
    SIZES,
    SYNC_CALLBACKS,
    U32,
    U64,
    WRITES_R1_SIZE_R2,
    alu,
    decide,
    s32,
    s64,
)
from bpfls.core.objfile import (
    CALL,
    LDIMM64,
    PSEUDO_CALL,
    PSEUDO_KFUNC_CALL,
    BpfFunction,
    BpfObject,
    CallSite,
    CodeSection,
    jump_slots,
)
from bpfls.core.reach_state import (
    ANY,
    Frame,
    Frozen,
    FuncPtr,
    Marker,
    StackPtr,
    State,
    Value,
    covers,
    join,
    ptrish,
)

Loc = tuple[str, int]  # (section, instruction slot)

#: steps (instructions interpreted) one :func:`reach` may take
BUDGET: Final = 200_000
#: states kept at one point before new ones are joined with them
WIDEN_AFTER: Final = 8
#: the verifier's call depth (``MAX_CALL_FRAMES``)
MAX_FRAMES: Final = 8


#: a patch: libbpf poisoned the instruction (``call 0xbad2310``)
POISON: Final = Marker("POISON")
#: a patch: the value is not known (libbpf refuses the relocation: the load fails anyway)
UNKNOWN: Final = Marker("UNKNOWN")

Patch = int | Marker


@dataclass(frozen=True)
class Reach:
    """The instructions the verifier can reach, as :func:`reach` found them."""

    reached: frozenset[Loc]
    #: not reached, but an entry point that could lead there was not fully explored
    undecided: frozenset[Loc]
    #: poisoned instructions reached: each fails the load on this kernel
    poisons: frozenset[Loc]
    #: program (function name) → what loading it reaches (its global functions and callbacks
    #: included), or could reach where undecided
    by_program: Mapping[str, frozenset[Loc]]
    complete: bool
    reasons: tuple[str, ...] = ()
    steps: int = 0

    def executes(self, loc: Loc) -> bool | None:
        """Can the verifier reach ``loc``? ``None``: could not be decided."""
        if loc in self.reached:
            return True
        return None if loc in self.undecided else False

    def programs_at(self, loc: Loc) -> tuple[str, ...]:
        """The programs whose load reaches ``loc`` (or may), in the object's order."""
        return tuple(p for p, locs in self.by_program.items() if loc in locs)


def reach(obj: BpfObject, patches: Mapping[Loc, Patch], *,
          programs: Collection[str] | None = None, lazy_globals: bool = False,
          budget: int = BUDGET, targets: Collection[Loc] | None = None) -> Reach:
    """What the verifier can reach in ``obj`` once libbpf has patched it for one kernel.

    ``patches`` maps each relocated instruction to libbpf's new value (the immediate of an ALU
    instruction, the offset of a load or store, the 64-bit value of an ``ldimm64``),
    :data:`POISON` or :data:`UNKNOWN`. ``programs``: the programs to load (function names);
    by default every program libbpf loads by default. ``lazy_globals``: the verifier checks
    a global function only once a reachable instruction calls it (see
    :func:`checks_globals_lazily`); otherwise it checks every global function libbpf puts in
    the program (every one its calls and function addresses lead to, reachable or not).

    ``targets``: only these instructions are asked about. The programs that cannot lead to
    one are not explored, and the exploration stops once every target is reached; the
    other instructions' answers are then "may execute" (``undecided``) unless reached.
    """
    if targets is not None and not targets:
        return Reach(frozenset(), frozenset(), frozenset(), {}, True)
    explorer = _Explorer(obj, patches, budget, lazy_globals)
    loaded = _loaded(obj, programs)
    if targets is None:
        return explorer.run(loaded)
    wanted = set(targets)
    explorer.targets = wanted
    holding = {(f.section, f.start) for loc in wanted
               if (f := obj.function_at(*loc)) is not None}
    leads = [f for f in loaded if any((g.section, g.start) in holding
                                      for g in explorer.static_functions(f))]
    return explorer.run(leads)


def checks_globals_lazily(kernel: Btf) -> bool:
    """Does the kernel's verifier check a global function only when a reachable instruction
    calls it? Kernels from 6.8 do (their ``struct bpf_func_info_aux`` has ``called``); older
    ones check every global function of the program. A kernel whose BTF lacks the verifier's
    types counts as an older one: that checks more, so it errs toward "executes"."""
    t = kernel.find("bpf_func_info_aux", "struct")
    return t is not None and any(m.name == "called" for m in t.members)


def _loaded(obj: BpfObject, names: Collection[str] | None) -> list[BpfFunction]:
    if names is None:
        return [f for f in obj.programs if f.autoload]
    return [f for f in obj.programs if f.name in names]


class _Unknown(Exception):
    """Code beyond the model: the entry point's exploration stops, undecided."""


class _OutOfBudget(Exception):
    pass


class _AllTargetsReached(Exception):
    pass


@dataclass
class _Entry:
    func: BpfFunction
    kind: str  # "program", "global", "callback"
    reached: set[Loc] = field(default_factory=set)
    triggers: list[_Entry] = field(default_factory=list)  # entries its code leads to
    done: bool = False
    reason: str | None = None


class _Explorer:
    def __init__(self, obj: BpfObject, patches: Mapping[Loc, Patch], budget: int,
                 lazy_globals: bool) -> None:
        self.obj = obj
        self.patches = patches
        self.budget = budget
        self.lazy_globals = lazy_globals
        self.steps = 0
        self.poisons: set[Loc] = set()
        self.entries: list[_Entry] = []
        self.by_func: dict[tuple[str, int, str], _Entry] = {}
        self.cache: dict[tuple, list[Frozen]] = {}
        starts: dict[str, set[int]] = {}
        for f in obj.functions:
            starts.setdefault(f.section, set()).add(f.start)
        self.prune_points = {name: _prune_points(sec) | starts.get(name, set())
                             for name, sec in obj.sections.items()}
        #: the instructions asked about (``None``: every one); the exploration stops once
        #: they have all been reached
        self.targets: set[Loc] | None = None
        self.entered: set[tuple[str, int]] = set()  # functions whose first insn was reached
        self.addressed: dict[tuple[str, int], _Entry] = {}  # FuncPtr target → who took it
        self.entry: _Entry | None = None

    # -- driver ------------------------------------------------------------------------

    def run(self, programs: Iterable[BpfFunction]) -> Reach:
        for f in programs:
            e = self.add_entry(f, "program", None)
            if not self.lazy_globals:
                for g in self.static_functions(f):
                    if g.verified_alone:
                        self.add_entry(g, "global", e)
        i = 0
        while True:
            while i < len(self.entries):
                e = self.entries[i]
                i += 1
                if self.steps >= self.budget:
                    e.reason = "the step budget ran out"
                    continue
                if self.targets is not None and not self.targets:
                    e.reason = "every instruction asked about is reached"
                    continue
                self.explore(e)
            # an address taken but never called: verified on its own, like a global function
            late = [(loc, parent) for loc, parent in self.addressed.items()
                    if loc not in self.entered]
            if not late:
                break
            for (sec, start), parent in late:
                f = self.obj.function_at(sec, start)
                self.entered.add((sec, start))
                if f is not None:
                    self.add_entry(f, "callback", parent)
        return self.result([f"{e.func.name}: {e.reason}" for e in self.entries if e.reason])

    def add_entry(self, f: BpfFunction, kind: str, parent: _Entry | None) -> _Entry:
        key = (f.section, f.start, kind)
        e = self.by_func.get(key)
        if e is None:
            e = self.by_func[key] = _Entry(f, kind)
            self.entries.append(e)
        if parent is not None and e is not parent and e not in parent.triggers:
            parent.triggers.append(e)
        return e

    def explore(self, e: _Entry) -> None:
        self.entry = e
        self.cache = {}  # each entry point's paths are its own
        sec = self.obj.sections[e.func.section]
        work = [State.entry(sec, e.func)]
        try:
            while work:
                self.path(work.pop(), work)
            e.done = True
        except _Unknown as x:
            e.reason = str(x)
        except _OutOfBudget:
            e.reason = "the step budget ran out"
        except _AllTargetsReached:
            e.reason = "every instruction asked about is reached"

    def result(self, reasons: list[str]) -> Reach:
        reached: set[Loc] = set()
        for e in self.entries:
            reached |= e.reached
        closures = {id(e): self.closure(e) for e in self.entries if not e.done}
        undecided: set[Loc] = set()
        for locs in closures.values():
            undecided |= locs
        undecided -= reached
        by_program: dict[str, frozenset[Loc]] = {}
        for e in self.entries:
            if e.kind != "program":
                continue
            locs: set[Loc] = set()
            seen: set[int] = set()
            todo = [e]
            while todo:
                x = todo.pop()
                if id(x) in seen:
                    continue
                seen.add(id(x))
                locs |= x.reached
                locs |= closures.get(id(x), set()) & undecided
                todo.extend(x.triggers)
            by_program[e.func.name] = frozenset(locs)
        return Reach(frozenset(reached), frozenset(undecided), frozenset(self.poisons),
                     by_program, not reasons, tuple(reasons), self.steps)

    def closure(self, e: _Entry) -> set[Loc]:
        """Every instruction the entry point could lead to by its calls and function
        addresses, whatever the values (what is undecided when it was not explored)."""
        return {(f.section, i) for f in self.static_functions(e.func)
                for i in range(f.start, f.end)}

    def static_functions(self, root: BpfFunction) -> list[BpfFunction]:
        """``root`` and every function its calls and function addresses lead to, directly
        or not: what libbpf puts in the program it loads."""
        out: list[BpfFunction] = []
        todo = [root]
        seen: set[tuple[str, int]] = set()
        while todo:
            f = todo.pop()
            if (f.section, f.start) in seen:
                continue
            seen.add((f.section, f.start))
            out.append(f)
            for i in range(f.start, f.end):
                site = self.obj.sites.get((f.section, i))
                if site is not None and site.target is not None:
                    todo.append(site.target)
        return out

    # -- one path ----------------------------------------------------------------------

    def pruned(self, st: State) -> bool:
        """Record the state at a prune point; ``True`` when an earlier one covers it. After
        :data:`WIDEN_AFTER` states at one point, ``st`` is widened to the join of all."""
        key = st.key()
        frozen = st.freeze()
        seen = self.cache.get(key)
        if seen is None:
            self.cache[key] = [frozen]
            return False
        if any(covers(old, frozen) for old in seen):
            return True
        if len(seen) < WIDEN_AFTER:
            seen.append(frozen)
            return False
        for old in seen:
            frozen = join(frozen, old)
        self.cache[key] = [frozen]
        st.thaw(frozen)
        return False

    def path(self, st: State, work: list[State]) -> None:
        assert self.entry is not None
        reached = self.entry.reached
        while True:
            sec, pc = st.sec, st.pc
            if not st.func.start <= pc < st.func.end:
                raise _Unknown(f"execution leaves function {st.func.name} at {sec.name}:{pc}")
            points = self.prune_points[sec.name]
            if pc in points and self.pruned(st):
                return
            loc = (sec.name, pc)
            reached.add(loc)
            targets = self.targets
            if targets is not None and loc in targets:
                targets.discard(loc)
                if not targets:
                    raise _AllTargetsReached
            self.steps += 1
            if self.steps > self.budget:
                raise _OutOfBudget
            patch = self.patches.get(loc)
            if patch is POISON:  # a load failure; what follows is explored all the same
                self.poisons.add(loc)
                patch = UNKNOWN
            codes, dsts, srcs, offs, imms = sec.fields
            op = codes[pc]
            cls = op & 7
            if cls in (BPF_ALU, BPF_ALU64):
                self.alu(st, op, dsts[pc], srcs[pc], offs[pc], imms[pc], patch)
                st.pc += 1
            elif cls == BPF_LDX:
                self.ldx(st, op, dsts[pc], srcs[pc], offs[pc], patch)
                st.pc += 1
            elif cls in (BPF_ST, BPF_STX):
                self.st(st, op, dsts[pc], srcs[pc], offs[pc], imms[pc], patch)
                st.pc += 1
            elif cls == BPF_LD:
                self.ld(st, op, dsts[pc], srcs[pc], imms[pc], patch)
            else:
                if not self.jmp(st, op, dsts[pc], srcs[pc], offs[pc], imms[pc], work):
                    return

    # -- ALU ---------------------------------------------------------------------------

    def alu(self, st: State, op: int, dst: int, src: int, off: int, imm: int,
            patch: Patch | None) -> None:
        regs = st.regs
        if dst > 10 or (op & 0x08 and src > 10):
            raise _Unknown(f"bad register in {st.sec.name}:{st.pc}")
        is64 = op & 7 == BPF_ALU64
        aop = op & 0xF0
        if aop >= 0xE0:
            raise _Unknown(f"unknown instruction {op:#04x} at {st.sec.name}:{st.pc}")
        if patch is UNKNOWN:
            regs[dst] = ANY if ptrish(regs[dst]) else None
            return
        if type(patch) is int:
            imm = s32(patch)
        b: Value = regs[src] if op & 0x08 else (imm & U64 if is64 else imm & U32)
        a = regs[dst]
        if aop == 0xB0:  # mov
            if off:  # movsx: sign-extend the low `off` bits
                regs[dst] = None
                if type(b) is int and off in (8, 16, 32):
                    v = b & ((1 << off) - 1)
                    if v >> (off - 1):
                        v -= 1 << off
                    regs[dst] = v & (U64 if is64 else U32)
                return
            if is64:
                regs[dst] = b
            else:
                regs[dst] = b & U32 if type(b) is int else None
            return
        if type(a) is int and type(b) is int:
            regs[dst] = alu(aop, a, b, 64 if is64 else 32)
            return
        if is64 and aop in (0x00, 0x10):  # pointer arithmetic
            if type(a) is StackPtr and type(b) is int:
                delta = s64(b) if aop == 0x00 else -s64(b)
                regs[dst] = StackPtr(a.frame, a.off + delta)
                return
            if aop == 0x00 and type(b) is StackPtr and type(a) is int:
                regs[dst] = StackPtr(b.frame, b.off + s64(a))
                return
            if aop == 0x10 and type(a) is StackPtr and type(b) is StackPtr:
                regs[dst] = None  # pointer - pointer: a scalar
                return
        regs[dst] = ANY if ptrish(a) or ptrish(b) else None

    # -- memory ------------------------------------------------------------------------

    def ldx(self, st: State, op: int, dst: int, src: int, off: int,
            patch: Patch | None) -> None:
        if dst > 10 or src > 10:
            raise _Unknown(f"bad register in {st.sec.name}:{st.pc}")
        size = SIZES[op & 0x18]
        if type(patch) is int:
            off = s64(patch)
        if patch is UNKNOWN or op & 0xE0 != MODE_MEM:
            v: Value = ANY if st.regs[src] is ANY else None
        else:
            v = st.load(st.regs[src], off, size)
        st.regs[dst] = v

    def st(self, st: State, op: int, dst: int, src: int, off: int, imm: int,
           patch: Patch | None) -> None:
        if dst > 10 or src > 10:
            raise _Unknown(f"bad register in {st.sec.name}:{st.pc}")
        size = SIZES[op & 0x18]
        base = st.regs[dst]
        mode = op & 0xE0
        if patch is not None:  # a relocated store: its offset or size may change
            if type(base) is StackPtr and base.frame < len(st.stacks):
                st.forget(base.frame, -(1 << 62), 1 << 62, overwritten=False)
            elif base is ANY:
                st.forget_all()
            return
        if op & 7 == BPF_ST:
            st.store(base, off, size, None, keep=False)
            return
        value = st.regs[src]
        if mode == MODE_ATOMIC:
            st.store(base, off, size, None, keep=False)
            if imm == ATOMIC_CMPXCHG:
                st.regs[0] = None
            elif imm & ATOMIC_FETCH or imm == ATOMIC_XCHG:
                st.regs[src] = None
            return
        if mode != MODE_MEM:
            raise _Unknown(f"unknown store mode {mode:#x} at {st.sec.name}:{st.pc}")
        keep = (size == 8 and value is not None) or (type(value) is int and value == 0)
        st.store(base, off, size, value, keep)

    def ld(self, st: State, op: int, dst: int, src: int, imm: int, patch: Patch | None) -> None:
        sec, pc = st.sec, st.pc
        mode = op & 0xE0
        if mode in (MODE_ABS, MODE_IND):  # legacy packet loads: a call in disguise
            st.regs[0] = None
            for r in range(1, 6):
                st.regs[r] = None
            st.pc += 1
            return
        if op != LDIMM64 or pc + 1 >= len(sec) or dst > 10:
            raise _Unknown(f"unknown instruction {op:#04x} at {sec.name}:{pc}")
        site = self.obj.sites.get((sec.name, pc))
        v: Value
        if type(patch) is int:
            v = patch & U64
        elif patch is UNKNOWN:
            v = None
        elif site is not None:
            if site.target is None:
                raise _Unknown(f"function address at {sec.name}:{pc} {site.error or ''}")
            v = FuncPtr(site.target.section, site.target.start)
            self.addressed.setdefault((site.target.section, site.target.start), self.entry)
        elif src == 0 and (sec.name, pc) not in self.obj.relocated:
            v = (imm & U32) | ((sec.fields[4][pc + 1] & U32) << 32)
        else:
            v = None  # a map, global data, an extern
        st.regs[dst] = v
        st.pc += 2

    # -- jumps and calls ---------------------------------------------------------------

    def jmp(self, st: State, op: int, dst: int, src: int, off: int, imm: int,
            work: list[State]) -> bool:
        """Interpret a JMP/JMP32 instruction; ``False`` when the path ends."""
        cls = op & 7
        jop = op & 0xF0
        pc = st.pc
        if cls not in (BPF_JMP, BPF_JMP32):
            raise _Unknown(f"unknown instruction {op:#04x} at {st.sec.name}:{pc}")
        if jop == JA:
            st.pc = pc + 1 + (imm if cls == BPF_JMP32 else off)
            return True
        if cls == BPF_JMP and jop == CALL_OP:
            return self.call(st, src, imm, work)
        if cls == BPF_JMP and jop == EXIT:
            return self.exit(st, work)
        if cls == BPF_JMP32 and jop in (CALL_OP, EXIT, JCOND):
            raise _Unknown(f"unknown instruction {op:#04x} at {st.sec.name}:{pc}")
        if dst > 10 or (op & 0x08 and src > 10):
            raise _Unknown(f"bad register in {st.sec.name}:{pc}")
        target = pc + 1 + off
        if cls == BPF_JMP and jop == JCOND:  # may_goto: either way
            other = st.copy()
            other.pc = target
            work.append(other)
            st.pc = pc + 1
            return True
        a = st.regs[dst]
        b: Value = st.regs[src] if op & 0x08 else imm & U64
        taken = None
        if type(a) is int and type(b) is int:
            taken = decide(jop, a, b, 64 if cls == BPF_JMP else 32)
            if taken is None:
                raise _Unknown(f"unknown jump {op:#04x} at {st.sec.name}:{pc}")
        if taken is True:
            st.pc = target
            return True
        if taken is False:
            st.pc = pc + 1
            return True
        other = st.copy()
        other.pc = target
        if cls == BPF_JMP and jop in (0x10, 0x50):  # the equal side of `== 0` learns zero
            equal = other if jop == 0x10 else st
            if b == 0 and type(b) is int and a is None:
                equal.regs[dst] = 0
            elif a == 0 and type(a) is int and b is None and op & 0x08:
                equal.regs[src] = 0
        work.append(other)
        st.pc = pc + 1
        return True

    def call(self, st: State, src: int, imm: int, work: list[State]) -> bool:
        pc = st.pc
        if src == PSEUDO_CALL:
            site = self.obj.sites.get((st.sec.name, pc))
            if site is None or (site.target is None and site.extern is None):
                why = site.error if site is not None else "has no target"
                raise _Unknown(f"call at {st.sec.name}:{pc} {why}")
            if site.target is not None:
                self.subprog_call(st, site)
                return True
            self.helper_effects(st, None)  # an extern: a kfunc
            return True
        if src == PSEUDO_KFUNC_CALL:
            self.helper_effects(st, None)
            return True
        if src != 0:
            raise _Unknown(f"unknown call kind {src} at {st.sec.name}:{pc}")
        sync = SYNC_CALLBACKS.get(imm)
        cb = st.regs[sync[0]] if sync else None
        modeled = 0
        if sync and type(cb) is FuncPtr and self.start_callback(st, imm, cb, sync[1], work):
            modeled = sync[0]
        self.helper_effects(st, imm, modeled)
        return True

    def helper_effects(self, st: State, helper: int | None, modeled: int = 0) -> None:
        """After a helper or kfunc (``helper`` is ``None``): the memory its pointer arguments
        reach may be written, the functions it gets are callbacks verified on their own
        (``modeled``: the register of the one explored in the caller's context), ``r0`` to
        ``r5`` are unknown, and the path goes on after the call."""
        regs = st.regs
        args = regs[1:6]
        alone = [v for r, v in enumerate(args, start=1) if type(v) is FuncPtr and r != modeled]
        for v in alone:
            self.callback_alone(v)
        if alone and any(ptrish(v) for v in args):
            st.forget_all()
        elif helper in WRITES_R1_SIZE_R2:
            p, n = args[0], args[1]
            if type(p) is StackPtr and type(n) is int and p.frame < len(st.stacks):
                st.forget(p.frame, p.off, p.off + n, overwritten=True)
            else:
                self.escape(st, [p])
        elif not modeled and helper not in READ_ONLY:
            self.escape(st, args)
        regs[0] = None
        for r in range(1, 6):
            regs[r] = None
        st.pc += 1

    def escape(self, st: State, args: Iterable[Value]) -> None:
        """Stack pointers passed to code the model does not follow: what they reach (up to
        the top of their frame) may be written."""
        for v in args:
            if v is ANY:
                st.forget_all()
                return
            if type(v) is StackPtr:
                if v.frame >= len(st.stacks):
                    st.forget_all()
                    return
                st.forget(v.frame, v.off, 1 << 62)

    def callback_alone(self, fp: FuncPtr) -> None:
        f = self.obj.function_at(fp.section, fp.start)
        if f is None:
            raise _Unknown(f"callback at {fp.section}:{fp.start} is not a function")
        self.entered.add((fp.section, fp.start))
        self.add_entry(f, "callback", self.entry)

    def subprog_call(self, st: State, site: CallSite) -> None:
        f = site.target
        assert f is not None and self.entry is not None
        if f.verified_alone:
            self.add_entry(f, "global", self.entry)
            self.entered.add((f.section, f.start))
            self.escape(st, st.regs[1:6])
            st.regs[0] = None
            for r in range(1, 6):
                st.regs[r] = None
            st.pc += 1
            return
        frame = Frame("call", st.sec.name, st.pc + 1, st.func, tuple(st.regs[6:10]))
        self.enter(st, f, frame, st.regs[1:6])

    def enter(self, st: State, f: BpfFunction, frame: Frame, args: list[Value]) -> None:
        """Push ``frame`` and continue in ``f`` with arguments ``args`` (``r1``..``r5``)."""
        if st.depth + 1 >= MAX_FRAMES:
            raise _Unknown(f"calls nested deeper than {MAX_FRAMES} frames reach {f.name}")
        if f is st.func or any(fr.ret_func is f for fr in st.frames):
            raise _Unknown(f"recursive call of {f.name}")
        sec = self.obj.sections.get(f.section)
        if sec is None:
            raise _Unknown(f"{f.name} is in no code section")
        self.entered.add((f.section, f.start))
        st.frames.append(frame)
        st.stacks.append({})
        regs: list[Value] = [None] * 11
        regs[1:6] = args
        regs[10] = StackPtr(st.depth, 0)
        st.regs = regs
        st.sec, st.func, st.pc = sec, f, f.start

    def start_callback(self, st: State, helper: int, fp: FuncPtr, mapping: dict[int, int],
                       work: list[State]) -> bool:
        """Explore the callback ``fp`` of ``helper`` in the caller's context (``False``: it
        is a global function, verified on its own)."""
        f = self.obj.function_at(fp.section, fp.start)
        if f is None or f.start != fp.start:
            raise _Unknown(f"callback at {fp.section}:{fp.start} is not a function")
        if f.verified_alone:
            return False
        caller_args = tuple(st.regs[1:6])
        run = st.copy()
        frame = Frame("callback", st.sec.name, st.pc + 1, st.func, tuple(st.regs[6:10]),
                       caller_args, f, helper)
        self.enter(run, f, frame, _callback_args(mapping, caller_args))
        work.append(run)
        return True

    def exit(self, st: State, work: list[State]) -> bool:
        if not st.frames:
            return False
        frame = st.frames.pop()
        depth = len(st.frames)  # the caller's frame
        st.stacks.pop()
        r0 = st.regs[0]
        if type(r0) is StackPtr and r0.frame > depth:
            r0 = ANY
        self.scrub(st, depth + 1)
        regs: list[Value] = [None] * 11
        regs[6:10] = frame.saved
        regs[10] = StackPtr(depth, 0)
        sec = self.obj.sections[frame.ret_section]
        st.sec, st.func, st.pc = sec, frame.ret_func, frame.ret_pc
        if frame.kind == "call":
            regs[0] = r0
            st.regs = regs
            return True
        # a callback ran once: it may run again, or the helper returns
        st.regs = regs
        assert frame.callee is not None
        again = st.copy()
        self.enter(again, frame.callee, frame,
                   _callback_args(SYNC_CALLBACKS[frame.helper][1], frame.args))
        work.append(again)
        return True

    @staticmethod
    def scrub(st: State, depth: int) -> None:
        """Pointers into frames at ``depth`` and deeper (gone) become unknown pointers."""
        for stack in st.stacks:
            for off, (size, v) in list(stack.items()):
                if type(v) is StackPtr and v.frame >= depth:
                    stack[off] = (size, ANY)


def _callback_args(mapping: dict[int, int], caller_args: tuple[Value, ...]) -> list[Value]:
    """A sync callback's ``r1``..``r5``: the caller's registers ``mapping`` names, the rest
    unknown."""
    args: list[Value] = [None] * 5
    for callee_reg, caller_reg in mapping.items():
        args[callee_reg - 1] = caller_args[caller_reg - 1]
    return args


def _prune_points(sec: CodeSection) -> frozenset[int]:
    """Jump targets and the instructions after calls: where paths join (with the function
    starts, which the explorer adds). Worked out once per section (it does not depend on the
    kernel)."""
    hit = sec.__dict__.get("_prune_points")
    if hit is None:
        hit = sec.__dict__["_prune_points"] = _find_prune_points(sec)
    return hit


def _find_prune_points(sec: CodeSection) -> frozenset[int]:
    codes, _dsts, _srcs, offs, imms = sec.fields
    out: set[int] = set()
    for pc in jump_slots(codes):
        op = codes[pc]
        cls = op & 7
        jop = op & 0xF0
        if op == CALL:
            out.add(pc + 1)
        elif jop == EXIT:
            continue
        elif jop == JA and cls == BPF_JMP32:
            out.add(pc + 1 + imms[pc])
        else:
            out.add(pc + 1 + offs[pc])
    return frozenset(out)


def program_sections(obj: BpfObject, names: Iterable[str]) -> tuple[str, ...]:
    """The ``SEC()`` names of the programs named, without repeats, in the object's order."""
    wanted = set(names)
    out: list[str] = []
    for f in obj.programs:
        if f.name in wanted and f.section not in out:
            out.append(f.section)
    return tuple(out)


__all__ = ["ANY", "BUDGET", "MAX_FRAMES", "POISON", "UNKNOWN", "WIDEN_AFTER",
           "FuncPtr", "Patch", "Reach", "StackPtr", "checks_globals_lazily", "reach",
           "program_sections"]
