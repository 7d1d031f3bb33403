"""Guards: the condition, over CO-RE existence checks, under which an access executes.

A guard is an immutable boolean formula. Its atoms are existence-check accesses
(``bpf_core_field_exists``, ``bpf_core_type_exists``, ``bpf_core_enum_value_exists``,
``bpf_core_type_matches``): after relocation each is a constant 0 or 1 on a given kernel, so the
verifier prunes the branches they decide. Every other condition is :data:`UNKNOWN` (a runtime
value: either branch may run).

:meth:`Guard.evaluate` answers, for one kernel, whether the guarded code can run there:
``False`` (never: the branch is dead on that kernel), ``True`` (always when reached) or ``None``
(depends on run-time values). Three-valued (Kleene) logic, so ``UNKNOWN`` never hides a branch
that a check does not rule out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpfls.source.model import CoreAccess

Verdict = Callable[["CoreAccess"], "bool | None"]


class Guard:
    __slots__ = ("op", "args", "atom", "_hash")

    def __init__(self, op: str, args: tuple[Guard, ...] = (), atom: CoreAccess | None = None):
        self.op = op  # "true" "false" "unknown" "config" "atom" "not" "and" "or"
        self.args = args
        self.atom = atom
        self._hash = hash((op, args, id(atom)))

    # -- construction (with the obvious simplifications) ----------------------------------
    @staticmethod
    def check(access: CoreAccess) -> Guard:
        return Guard("atom", atom=access)

    def __invert__(self) -> Guard:
        if self.op == "true":
            return FALSE
        if self.op == "false":
            return TRUE
        if self.op in ("unknown", "config"):
            return self
        if self.op == "not":
            return self.args[0]
        return Guard("not", (self,))

    def __and__(self, other: Guard) -> Guard:
        return all_of((self, other))

    def __or__(self, other: Guard) -> Guard:
        return any_of((self, other))

    # -- queries ---------------------------------------------------------------------------
    @property
    def is_true(self) -> bool:
        """Unconditional (no existence check involved)."""
        return self.op == "true"

    @property
    def is_false(self) -> bool:
        return self.op == "false"

    @property
    def configured(self) -> bool:
        """Depends on a value the loader fixes before the load (a ``const volatile`` global
        user space sets, a ``__kconfig`` extern): the verifier sees it as a constant and
        prunes the branch it rules out, but which one is up to the loader."""
        if self.op == "config":
            return True
        return any(a.configured for a in self.args)

    def atoms(self) -> list[CoreAccess]:
        """The existence checks this guard depends on, each once, in first-seen order."""
        out: list[CoreAccess] = []
        seen: set[int] = set()

        def walk(g: Guard) -> None:
            if g.op == "atom":
                assert g.atom is not None
                if id(g.atom) not in seen:
                    seen.add(id(g.atom))
                    out.append(g.atom)
            for a in g.args:
                walk(a)

        walk(self)
        return out

    def evaluate(self, verdict: Verdict) -> bool | None:
        """Kleene evaluation: ``verdict(check)`` says whether an existence check yields true on
        the kernel in question (``None``: not known)."""
        op = self.op
        if op == "true":
            return True
        if op == "false":
            return False
        if op in ("unknown", "config"):
            return None
        if op == "atom":
            assert self.atom is not None
            v = verdict(self.atom)
            return None if v is None else bool(v)
        if op == "not":
            v = self.args[0].evaluate(verdict)
            return None if v is None else not v
        if op == "and":
            result: bool | None = True
            for a in self.args:
                v = a.evaluate(verdict)
                if v is False:
                    return False
                if v is None:
                    result = None
            return result
        # "or"
        result = False
        for a in self.args:
            v = a.evaluate(verdict)
            if v is True:
                return True
            if v is None:
                result = None
        return result

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return (isinstance(other, Guard) and self._hash == other._hash and self.op == other.op
                and self.atom is other.atom and self.args == other.args)

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        op = self.op
        if op in ("true", "false", "unknown", "config"):
            return op
        if op == "atom":
            assert self.atom is not None
            a = self.atom
            return f"{a.kind}({a.spec})"
        if op == "not":
            return f"!{self.args[0]}"
        sep = " && " if op == "and" else " || "
        return "(" + sep.join(str(a) for a in self.args) + ")"

    def __repr__(self) -> str:
        return f"<Guard {self}>"


TRUE = Guard("true")
FALSE = Guard("false")
UNKNOWN = Guard("unknown")
#: a condition on a load-time constant (see :attr:`Guard.configured`): unknown here
CONFIG = Guard("config")


def all_of(gs: Iterable[Guard]) -> Guard:
    """The conjunction of ``gs`` (``TRUE`` when there are none)."""
    return _join(gs, "and", TRUE, FALSE)


def any_of(gs: Iterable[Guard]) -> Guard:
    """The disjunction of ``gs`` (``FALSE`` when there are none)."""
    return _join(gs, "or", FALSE, TRUE)


def _join(gs: Iterable[Guard], op: str, unit: Guard, zero: Guard) -> Guard:
    """``gs`` joined by ``op`` ("and", "or"), whose identity is ``unit`` and whose absorbing
    element is ``zero``: those are dropped and decide, nested joins of ``op`` are flattened and
    repeated operands dropped."""
    if type(gs) is tuple and len(gs) == 2:
        a, b = gs
        if b.op == unit.op or a is b or a.op == zero.op:
            return a
        if a.op == unit.op or b.op == zero.op:
            return b
    parts: list[Guard] = []
    for g in gs:
        if g.op == zero.op:
            return zero
        if g.op == unit.op:
            continue
        for p in (g.args if g.op == op else (g,)):
            if p not in parts:
                parts.append(p)
    if not parts:
        return unit
    if len(parts) == 1:
        return parts[0]
    return Guard(op, tuple(parts))
