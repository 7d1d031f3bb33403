"""What the relocation walker computes for an expression: :class:`Val` (its type, the chain of
preserved accesses still open, the guard or constant it is, where a kernel pointer held as a
number came from) and :class:`Chain` (a run of preserved accesses, one relocation once closed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpfls.source.exprtypes import EType
    from bpfls.source.guards import Guard
    from bpfls.source.model import Accessor, CoreAccess
    from bpfls.source.positions import Position, Range


class Chain:
    """An open run of preserved accesses (one relocation when closed)."""

    __slots__ = ("root", "access", "accessors", "last", "start", "field")

    def __init__(self, root: int, access: list[int], start: Range) -> None:
        self.root = root
        self.access = access
        self.accessors: list[Accessor] = []
        self.last = start
        self.start = start
        self.field: EType | None = None


class PendingDeref:
    """A member reached through a kernel pointer held as a number (``task->real_parent``):
    the hops of the ``BPF_CORE_READ(base, hop, ...)`` that reads it, each an accessor path
    (``a.b[2]``), and how many of them were already loaded (``task->real_parent->...``)."""

    __slots__ = ("origin", "base", "via", "first", "start", "hops", "ends", "loaded")

    def __init__(self, origin: str, base: str, via: str | None, first: Range, start: Position,
                 hops: tuple[str, ...], ends: tuple[Position, ...], loaded: int = 0) -> None:
        self.origin = origin
        self.base = base  # the base expression's text
        self.via = via  # the macro whose expansion makes the access
        self.first = first  # the first member read through the number
        self.start = start  # where the base expression starts
        self.hops = hops
        self.ends = ends  # where each hop ends
        self.loaded = loaded

    def extended(self, suffix: str, end: Position) -> PendingDeref:
        """The same hop, further into the member (``.b``, ``[2]``)."""
        return PendingDeref(self.origin, self.base, self.via, self.first, self.start,
                            (*self.hops[:-1], self.hops[-1] + suffix), (*self.ends[:-1], end),
                            self.loaded)

    def hop(self, name: str, end: Position) -> PendingDeref:
        """One more hop, through the pointer the last one loaded."""
        return PendingDeref(self.origin, self.base, self.via, self.first, self.start,
                            (*self.hops, name), (*self.ends, end), len(self.hops))


class Val:
    """What walking an expression yields."""

    __slots__ = ("et", "chain", "decl", "member_pai", "guard", "const", "addr", "values",
                 "origin", "deref")

    def __init__(self, et: EType | None = None, chain: Chain | None = None, decl: str | None = None,
                 member_pai: bool = False, guard: Guard | None = None,
                 const: int | None = None, addr: CoreAccess | None = None,
                 values: frozenset[int] | None = None, origin: str | None = None,
                 deref: PendingDeref | None = None) -> None:
        self.et = et
        self.chain = chain
        self.decl = decl
        self.member_pai = member_pai
        self.guard = guard
        self.const = const
        #: the value is an address ``&p->f...`` whose relocated offset ``addr`` is its last term
        self.addr = addr
        #: the constants the value can be (a parameter of an inlined function: see constargs)
        self.values = values if values is not None or const is None else frozenset((const,))
        #: the value is a kernel pointer (or address) the verifier sees as a plain number: how
        #: it was obtained (``bpf_get_current_task()``, ``PT_REGS_PARM1(ctx)``, ...)
        self.origin = origin
        #: the lvalue is a member reached through such a number, not loaded yet
        self.deref = deref

    def but(self, *, origin: str | None, deref: PendingDeref | None = None) -> Val:
        """This value with another origin and pending dereference."""
        v = Val(self.et, self.chain, self.decl, self.member_pai, self.guard, self.const,
                self.addr, self.values, origin, deref)
        return v


#: nothing known (shared: never changed)
NONE = Val()
