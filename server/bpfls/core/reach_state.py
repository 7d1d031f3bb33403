"""The abstract state :mod:`bpfls.core.reach` keeps for one path through a BPF program.

A register holds a known constant (an ``int``, as the u64 it stands for), a pointer into a
known frame's stack at a known offset (:class:`StackPtr`), a known function's address
(:class:`FuncPtr`), :data:`ANY` (may point anywhere into any frame's stack) or ``None``
(unknown, and not a stack pointer: a scalar, or a pointer to memory other than the stack).

A frame's stack keeps what the verifier keeps (see :mod:`bpfls.core.reach` for which stores
those are): offset → (size, value). :class:`State` is one path's state, :class:`Frozen` its
hashable copy for the state cache. :func:`covers` says when exploring one state also covers
another (every value it knows, the other has), :func:`join` forgets what two states
disagree on; both keep in mind that a stack pointer the model forgot may still be in memory
(``lost``: then a load from an untracked stack slot may give one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bpfls.core.objfile import BpfFunction, CodeSection


class Marker:
    """A named singleton value."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: a value: may point anywhere into any frame's stack
ANY: Final = Marker("ANY")


@dataclass(frozen=True, slots=True)
class StackPtr:
    """A pointer into the stack of the frame at call depth ``frame``, ``off`` bytes from its
    top (``r10`` is ``StackPtr(depth, 0)``)."""

    frame: int
    off: int


@dataclass(frozen=True, slots=True)
class FuncPtr:
    """The address of a function (``ldimm64`` of a subprogram: a callback)."""

    section: str
    start: int


Value = int | StackPtr | FuncPtr | Marker | None  # None: unknown, and not a stack pointer


def ptrish(v: Value) -> bool:
    """May ``v`` be a stack pointer?"""
    return type(v) is StackPtr or v is ANY


def covers_value(w: Value, s: Value) -> bool:
    """Does abstract value ``w`` describe every concrete value ``s`` describes?"""
    return w == s or w is ANY or (w is None and not ptrish(s))


def join_values(a: Value, b: Value) -> Value:
    if a == b:
        return a
    return ANY if ptrish(a) or ptrish(b) else None


@dataclass(frozen=True, slots=True)
class Frame:
    """A caller's frame, kept while a static subprogram or a callback runs."""

    kind: str  # "call" or "callback"
    ret_section: str
    ret_pc: int  # where the caller goes on
    ret_func: BpfFunction
    saved: tuple[Value, ...]  # the caller's r6..r9
    #: for a callback: the caller's r1..r5 at the helper call (the next run's arguments)
    args: tuple[Value, ...] = ()
    callee: BpfFunction | None = None
    helper: int = 0

    def key(self) -> tuple[str, str, int]:
        return (self.kind, self.ret_section, self.ret_pc)


Stack = dict[int, tuple[int, Value]]  # offset → (size, value)


@dataclass(frozen=True, slots=True)
class Frozen:
    """A :class:`State`'s values, hashable."""

    regs: tuple[Value, ...]
    stacks: tuple[frozenset[tuple[int, tuple[int, Value]]], ...]
    frames: tuple[Frame, ...]
    lost: bool


class State:
    """One path's state: the current frame's registers, every frame's stack (index = call
    depth), the callers' frames, and ``lost`` (a stack pointer was forgotten: a load from the
    stack that is not tracked may give one)."""

    __slots__ = ("sec", "func", "pc", "regs", "stacks", "frames", "lost")

    def __init__(self, sec: CodeSection, func: BpfFunction, pc: int, regs: list[Value],
                 stacks: list[Stack], frames: list[Frame], lost: bool = False) -> None:
        self.sec = sec
        self.func = func
        self.pc = pc
        self.regs = regs
        self.stacks = stacks
        self.frames = frames
        self.lost = lost

    @classmethod
    def entry(cls, sec: CodeSection, func: BpfFunction) -> State:
        regs: list[Value] = [None] * 11
        regs[10] = StackPtr(0, 0)
        return cls(sec, func, func.start, regs, [{}], [])

    def copy(self) -> State:
        return State(self.sec, self.func, self.pc, list(self.regs),
                      [dict(s) for s in self.stacks], list(self.frames), self.lost)

    @property
    def depth(self) -> int:
        return len(self.frames)

    def key(self) -> tuple:
        return (self.sec.name, self.pc, tuple(f.key() for f in self.frames))

    def freeze(self) -> Frozen:
        return Frozen(tuple(self.regs), tuple(frozenset(s.items()) for s in self.stacks),
                       tuple(self.frames), self.lost)

    def thaw(self, f: Frozen) -> None:
        self.regs = list(f.regs)
        self.stacks = [dict(s) for s in f.stacks]
        self.frames = list(f.frames)
        self.lost = f.lost

    # -- stack memory ------------------------------------------------------------------

    def forget(self, frame: int, lo: int, hi: int, overwritten: bool = False) -> None:
        """Bytes ``[lo, hi)`` of ``frame``'s stack become unknown. ``overwritten``: they now
        hold data (scalars); otherwise they may still hold what they held, so a stack pointer
        kept there becomes a lost one."""
        stack = self.stacks[frame]
        for off in [o for o, (size, _v) in stack.items() if o < hi and lo < o + size]:
            _size, v = stack.pop(off)
            if not overwritten and ptrish(v):
                self.lost = True

    def forget_all(self) -> None:
        for frame in range(len(self.stacks)):
            self.forget(frame, -(1 << 62), 1 << 62)

    def store(self, ptr: Value, off: int, size: int, value: Value, keep: bool) -> None:
        """A store of ``size`` bytes at ``ptr + off``: a kept spill when ``keep``."""
        if type(ptr) is StackPtr:
            if ptr.frame >= len(self.stacks):
                self.forget_all()
                return
            addr = ptr.off + off
            self.forget(ptr.frame, addr, addr + size, overwritten=True)
            if keep and addr % size == 0:
                self.stacks[ptr.frame][addr] = (size, value)
        elif ptr is ANY:
            self.forget_all()
            if ptrish(value):
                self.lost = True

    def load(self, ptr: Value, off: int, size: int) -> Value:
        if type(ptr) is StackPtr:
            if ptr.frame >= len(self.stacks):
                return ANY
            stack = self.stacks[ptr.frame]
            addr = ptr.off + off
            kept = stack.get(addr)
            if kept is not None and kept[0] == size == 8:
                return kept[1]
            for o, (sz, v) in stack.items():
                if type(v) is int and v == 0 and o <= addr and addr + size <= o + sz:
                    return 0
            return ANY if self.lost else None
        return ANY if ptr is ANY else None


def covers(w: Frozen, s: Frozen) -> bool:
    """Does exploring ``w`` cover everything exploring ``s`` would reach?"""
    if s.lost and not w.lost:
        return False
    if not all(map(covers_value, w.regs, s.regs)):
        return False
    for ws, ss in zip(w.stacks, s.stacks, strict=True):
        if not ws <= ss:
            return False
        if not w.lost and any(ptrish(v) for _o, (_z, v) in ss - ws):
            return False
    for wf, sf in zip(w.frames, s.frames, strict=True):
        if not all(map(covers_value, wf.saved + wf.args, sf.saved + sf.args)):
            return False
    return True


def join(a: Frozen, b: Frozen) -> Frozen:
    """What ``a`` and ``b`` both say (a state that covers both)."""
    lost = a.lost or b.lost
    stacks = []
    for sa, sb in zip(a.stacks, b.stacks, strict=True):
        both = sa & sb
        if any(ptrish(v) for _o, (_z, v) in (sa | sb) - both):
            lost = True
        stacks.append(both)
    frames = tuple(
        Frame(fa.kind, fa.ret_section, fa.ret_pc, fa.ret_func,
              tuple(map(join_values, fa.saved, fb.saved)),
              tuple(map(join_values, fa.args, fb.args)), fa.callee, fa.helper)
        for fa, fb in zip(a.frames, b.frames, strict=True))
    return Frozen(tuple(map(join_values, a.regs, b.regs)), tuple(stacks), frames, lost)
