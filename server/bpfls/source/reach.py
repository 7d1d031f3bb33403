"""Which functions can run, and under which existence checks they are entered.

Programs (functions with ``SEC``) and global (non-static) functions are verified on their own:
they are the roots, entered unconditionally. A static function runs only when something
reachable calls it (or takes its address, as for ``bpf_loop`` callbacks), and it is entered
under the guards of its call sites: its accesses inherit the disjunction of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bpfls.source.guards import FALSE, TRUE, Guard, all_of, any_of

MAX_ROUNDS = 12


def reachable_functions(roots: Iterable[str], refs: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(r for r in refs.get(f, ()) if r not in seen)
    return seen


def entry_guards(roots: set[str], functions: Iterable[str],
                 call_sites: list[tuple[str, str, Guard]]) -> dict[str, Guard]:
    """Per function, the condition under which it is entered (TRUE for roots)."""
    ctx: dict[str, Guard] = {f: (TRUE if f in roots else FALSE) for f in functions}
    by_callee: dict[str, list[tuple[str, Guard]]] = {}
    for caller, callee, g in call_sites:
        if callee in roots or caller == callee:
            continue
        by_callee.setdefault(callee, []).append((caller, g))
    for _ in range(MAX_ROUNDS):
        changed = False
        for callee, sites in by_callee.items():
            new = any_of(all_of((ctx.get(caller, FALSE), g)) for caller, g in sites)
            if len(new.atoms()) > 64:
                new = TRUE  # too complex to be useful: assume it always runs
            if new != ctx.get(callee):
                ctx[callee] = new
                changed = True
        if not changed:
            break
    return ctx
