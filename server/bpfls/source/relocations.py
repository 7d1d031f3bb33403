"""Predict the CO-RE relocations clang emits for each function, with their guards.

The rules (clang's ``CGExpr``/``CGBuiltin`` and the BPF backend's
``BPFAbstractMemberAccess``, checked against clang 16 objects):

- A member access ``x.f`` / ``p->f`` is *preserved* when the record it accesses carries
  ``preserve_access_index`` or the access is inside ``__builtin_preserve_access_index`` (which
  is what ``bpf_core_read`` and ``BPF_CORE_READ`` use). Preserved accesses chain: ``p->a.b[2]``
  is one relocation ``root:0:a:b:2``. A chain ends where a value is loaded (``p->a->b`` is two
  relocations), where a record without the attribute is reached, or at a variable subscript.
- A constant subscript is preserved inside a builtin region, or when its base is a member of a
  preserved record or a variable that points to one (``p[1].a`` gives ``1:0``).
- The root is the type the access went through, modifiers stripped, typedef kept; the raw
  access string includes anonymous members.
- ``__builtin_preserve_field_info(e, k)`` (``bpf_core_field_*``, the bitfield macros) records
  kind ``k`` for the last chain of ``e`` only: the loads on the way are never executed.
- An address minus the same relocated offset cancels: ``container_of(&p->m, T, m)`` (``p`` a
  ``T *``, directly or through a local pointer read nowhere else) emits no relocation at all.
- Dead code emits nothing: a plain load into a variable nothing reads
  (:mod:`bpfls.source.unused`), code after a ``return``, and the branches and ``switch`` cases
  that the constant arguments of a ``static __always_inline`` function rule out
  (:mod:`bpfls.source.constargs`).

:class:`FunctionWalker` walks one function; its parts are the statements
(:mod:`bpfls.source.walk_statements`), the expressions (:mod:`bpfls.source.walk_expressions`),
the calls and macro expansions (:mod:`bpfls.source.walk_calls`, the CO-RE macros in
:mod:`bpfls.source.intrinsics`), over the state and emission of :mod:`bpfls.source.walk_base`.
"""

from __future__ import annotations

from bpfls.source.constargs import param_values
from bpfls.source.guards import any_of
from bpfls.source.walk_calls import CallWalker
from bpfls.source.walk_expressions import ExpressionWalker
from bpfls.source.walk_statements import StatementWalker


class FunctionWalker(StatementWalker, ExpressionWalker, CallWalker):
    """Walks one function definition: its relocations (``fd.accesses``), with the guards they
    run under, and the guard under which it returns true (``fd.returns``)."""

    def run(self) -> None:
        fd = self.fd
        for name, et, _ in fd.params:
            self.scopes[0][name] = et
        self.scalar_params()
        self.param_values = dict(param_values(self.tu, fd))
        body = fd.node.child_by_field_name("body")
        if fd.macro:
            self.program_macro_entry(fd.macro, body)
        if body is not None:
            self.stmt(body)
        fd.returns = any_of(self.returns) if self.returns else None
        gone = [a for i, a in self.addr_held.items() if i not in self.addr_pinned and
                self.addr_folds.get(i) and self.addr_folds[i] == self.addr_uses.get(i)]
        if gone:
            fd.accesses = [a for a in fd.accesses if all(a is not g for g in gone)]
