"""What the relocation walker computes for an expression: :class:`Val` (its type, the chain of
preserved accesses still open, the guard or constant it is) and :class:`Chain` (a run of
preserved accesses, one relocation once closed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpfls.source.exprtypes import EType
    from bpfls.source.guards import Guard
    from bpfls.source.model import Accessor, CoreAccess
    from bpfls.source.positions import Range


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


class Val:
    """What walking an expression yields."""

    __slots__ = ("et", "chain", "decl", "member_pai", "guard", "const", "addr", "values")

    def __init__(self, et: EType | None = None, chain: Chain | None = None, decl: str | None = None,
                 member_pai: bool = False, guard: Guard | None = None,
                 const: int | None = None, addr: CoreAccess | None = None,
                 values: frozenset[int] | None = None) -> None:
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


#: nothing known (shared: never changed)
NONE = Val()
