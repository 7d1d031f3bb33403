"""Will it load and attach there: the names a program asks of each kernel, judged.

:func:`check_load` reads the records of :mod:`bpfls.source.programs` (programs, helper and kfunc
calls, maps, ksyms, struct_ops, scalar dereferences) and the loaded kernels
(:mod:`bpfls.analysis.attach`), and gives the diagnostics (one per problem, its kernels grouped)
and a :class:`~bpfls.analysis.report.ProgramReport` per program (the program × kernel matrix).

- a call runs on a kernel unless its guard (``bpf_core_enum_value_exists(enum bpf_func_id,
  BPF_FUNC_x)``, ...) is false there, evaluated with the CO-RE verdicts of
  :func:`bpfls.analysis.check.check_model`;
- a weak kfunc called under ``bpf_ksym_exists()`` passes;
- programs in a group of alternatives (``// bpfls: alternative=NAME`` beside ``SEC``, or
  ``[alternatives] groups`` in ``bpfls.toml``) are reported only on kernels where every member
  of the group fails;
- what BTF cannot tell (a kprobe target BTF does not describe) is a warning or nothing, never
  an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bpfls.analysis import attach
from bpfls.analysis.attach import KernelView, Lookup
from bpfls.analysis.diagnostics import Diagnostic, KernelFact, diagnostic
from bpfls.analysis.helper_table import HELPERS
from bpfls.analysis.report import ProgramReport, ProgramResult
from bpfls.analysis.sections import SectionInfo, section_info
from bpfls.btf import Kind
from bpfls.project.kernels import KernelSet
from bpfls.source.model import CoreAccess, SourceModel
from bpfls.source.positions import Range
from bpfls.source.programs import KernelCall, Ksym, Program

Verdicts = Mapping[str, Callable[[CoreAccess], bool | None]]

#: kinds whose BPF_PROG arguments are the target's prototype (and ``ret`` after them)
SIGNATURE_KINDS = frozenset({"fentry", "fexit", "fmod_ret", "fsession", "lsm", "lsm_cgroup",
                             "tp_btf"})
RET_KINDS = frozenset({"fexit", "fmod_ret", "lsm", "lsm_cgroup"})
BTF_MACROS = frozenset({"BPF_PROG", "BPF_PROG2"})
KPROBE_MACROS = frozenset({"BPF_KPROBE"})
#: the problems that make a program fail on a kernel, worst first
_RANK = ("unknown-section", "program-type-missing", "attach-target-missing",
         "argument-out-of-range", "kernel-pointer-deref", "helper-missing", "kfunc-missing",
         "kfunc-incompatible", "signature-mismatch", "attach-target-unverified")


@dataclass
class Issue:
    """One problem on one kernel, before kernels are grouped into diagnostics."""

    code: str
    message: str  # without the kernels
    path: str
    range: Range
    kernel: str
    fact: str = ""
    data: dict = field(default_factory=dict)
    programs: tuple[str, ...] = ()  # the programs it makes fail (alternatives excuse them)
    all_kernels: bool = False  # the same on every kernel: no kernel list in the message


#: not a problem: BTF cannot tell whether the program attaches on that kernel (no diagnostic)
UNKNOWN = "unknown"


def check_load(model: SourceModel, kernels: KernelSet, verdicts: Verdicts | None = None,
               alternatives: Iterable[Iterable[str]] = ()
               ) -> tuple[list[Diagnostic], list[ProgramReport]]:
    """The load/attach diagnostics of ``model`` on the loaded ``kernels`` and the
    program × kernel reports."""
    vs = attach.views(kernels)
    names = [v.name for v in vs]
    verdicts = verdicts or {}
    reach = _reached_by(model)
    infos = {id(p): section_info(p.section) for p in model.programs}
    issues: list[Issue] = []
    per_program: dict[str, dict[str, list[Issue]]] = {p.name: {} for p in model.programs}

    for p in model.programs:
        issues.extend(_program_issues(model, p, infos[id(p)], vs))
    issues.extend(_call_issues(model, vs, verdicts, reach))
    issues.extend(_map_issues(model, vs))
    issues.extend(_ksym_issues(model, vs))
    issues.extend(_struct_ops_issues(model, vs))
    issues.extend(_deref_issues(model, names, reach, infos))

    for i in issues:
        for prog in i.programs:
            if prog in per_program:
                per_program[prog].setdefault(i.kernel, []).append(i)

    reports = [_report(p, infos[id(p)], names, per_program[p.name], vs) for p in model.programs]
    excused = _excused(model, reports, alternatives)
    kept = [i for i in issues if i.code != UNKNOWN and not (
        i.programs and all((prog, i.kernel) in excused for prog in i.programs))]
    return _group(kept, names), reports


# -- call graph ------------------------------------------------------------------------------

def _reached_by(model: SourceModel) -> dict[str, tuple[str, ...]]:
    """function → the programs that reach it (through calls)."""
    out: dict[str, list[str]] = {}
    funcs = model.functions
    for p in model.programs:
        seen = {p.name}
        stack = [p.name]
        while stack:
            f = stack.pop()
            out.setdefault(f, []).append(p.name)
            info = funcs.get(f)
            for c in (info.calls if info is not None else ()):
                if c not in seen and c in funcs:
                    seen.add(c)
                    stack.append(c)
    return {f: tuple(ps) for f, ps in out.items()}


# -- programs --------------------------------------------------------------------------------

def _program_issues(model: SourceModel, p: Program, info: SectionInfo,
                    vs: list[KernelView]) -> list[Issue]:
    where = p.section_range or p.range
    out: list[Issue] = []
    if not info.known:
        msg = (f'SEC("{p.section}"): libbpf recognises no such section, so it cannot tell '
               f"the program type of '{p.name}' (\"missing BPF prog type, check ELF section "
               "name\") and the load fails, unless another loader or the program's user space "
               "sets the type")
        return [Issue("unknown-section", msg, p.path, where, v.name, programs=(p.name,),
                      all_kernels=True, data={"program": p.name, "section": p.section})
                for v in vs]
    for v in vs:
        pt = v.program_type(info)
        if pt.ok is False:
            need = pt.reason.removeprefix("no ")
            out.append(Issue("program-type-missing",
                             f"'{p.name}': SEC(\"{p.section}\") needs {need}, which the "
                             "kernel lacks", p.path, where, v.name,
                             pt.reason, {"program": p.name, "prog_type": info.prog_type},
                             (p.name,)))
            continue
        t = v.target(info)
        data = {"program": p.name, "section": p.section, "kind": info.kind,
                "target": info.target}
        if info.kind in ("fentry", "fexit", "fmod_ret") and info.target:
            data["kprobe_section"] = (f"kretprobe/{info.target}" if info.kind == "fexit"
                                      else f"kprobe/{info.target}")
        if t.ok is False:
            out.append(Issue("attach-target-missing",
                             f"'{p.name}': SEC(\"{p.section}\"): {t.reason} in the kernel's "
                             "BTF, so libbpf cannot find the attach target", p.path, where,
                             v.name,
                             t.reason, data, (p.name,)))
            continue
        if t.ok is None and t.evidence_only:
            out.append(Issue("attach-target-unverified",
                             f"'{p.name}': SEC(\"{p.section}\"): {t.reason}; it may still "
                             "attach, this is evidence only", p.path, where, v.name, t.reason,
                             data, (p.name,)))
            continue
        if t.ok is None and t.reason:
            out.append(Issue(UNKNOWN, t.reason, p.path, where, v.name, t.reason,
                             programs=(p.name,)))
        if t.ok and t.proto_id is not None and p.params:
            out.extend(_signature_issues(model, p, info, v, t))
    missing = [i for i in out if i.code == "attach-target-missing"]
    if len(vs) > 1 and len(missing) == len(vs):
        # no configured kernel has it: a misspelling, or (as real loaders do) a placeholder
        # user space replaces before the load (bpf_program__set_attach_target): not an error
        out = [i for i in out if i.code != "attach-target-missing"]
        msg = (f"'{p.name}': SEC(\"{p.section}\"): {missing[0].fact} in any configured "
               "kernel's BTF: a misspelled target, or a placeholder the loader replaces "
               "before the load (bpf_program__set_attach_target); libbpf fails the load "
               "otherwise")
        out.extend(Issue("attach-target-unknown", msg, i.path, i.range, i.kernel, i.fact,
                         i.data, i.programs, all_kernels=True) for i in missing)
    return out


def _signature_issues(model: SourceModel, p: Program, info: SectionInfo, v: KernelView,
                      t: Lookup) -> list[Issue]:
    if p.macro in BTF_MACROS and info.kind in SIGNATURE_KINDS:
        strict = True
    elif p.macro in KPROBE_MACROS and info.kind == "kprobe":
        strict = False
    else:
        return []
    kbtf = t.btf
    assert kbtf is not None and t.proto_id is not None
    args = attach.proto_args(kbtf, t.proto_id, t.skip_first)
    ret = attach.return_type(kbtf, t.proto_id) if info.kind in RET_KINDS else None
    proto = attach.render(kbtf, t.proto_id, info.target or "")
    local = model.local
    out: list[Issue] = []
    for i, prm in enumerate(p.params):
        data = {"program": p.name, "param": prm.name, "index": i}
        if i < len(args):
            kname, kid = args[i]
            what = f"argument {i + 1} ({kname})" if kname else f"argument {i + 1}"
        elif i == len(args) and ret is not None and strict:
            kid, what = ret, "the return value"
        else:
            fatal = strict and prm.used
            out.append(Issue("argument-out-of-range" if fatal else "signature-mismatch",
                             f"'{p.name}': parameter '{prm.name}' is beyond the "
                             f"{len(args)} arguments of the kernel's function"
                             + (" (the verifier rejects the context access)" if fatal else ""),
                             p.path, prm.range, v.name, proto, data, (p.name,)))
            break
        if prm.type_id is None:
            continue
        if attach.type_mismatch(local, prm.type_id, kbtf, kid):
            ktext = attach.render(kbtf, kid) if kid else "void"
            data["kernel_type"] = ktext
            out.append(Issue("signature-mismatch",
                             f"'{p.name}': parameter '{prm.name}' is {prm.type_text}, the "
                             f"kernel's {what} is {ktext}", p.path, prm.range, v.name, proto,
                             data, (p.name,)))
    return out


def _report(p: Program, info: SectionInfo, names: list[str], issues: dict[str, list[Issue]],
            vs: list[KernelView]) -> ProgramReport:
    results: dict[str, ProgramResult] = {}
    for n in names:
        got = issues.get(n, [])
        if not got:
            results[n] = ProgramResult(True)
            continue
        worst = min(got, key=lambda i: _RANK.index(i.code) if i.code in _RANK else len(_RANK))
        reason = worst.fact or worst.message
        if worst.code in (UNKNOWN, "unknown-section"):
            # BTF cannot tell, or another loader may know the section
            results[n] = ProgramResult(None, None if worst.code == UNKNOWN else worst.code,
                                       reason)
            continue
        if worst.code in ("signature-mismatch", "attach-target-unverified"):
            ok = None if worst.code == "attach-target-unverified" else True
            if any(i.code not in ("signature-mismatch", "attach-target-unverified", UNKNOWN)
                   for i in got):
                ok = False
        else:
            ok = False
        results[n] = ProgramResult(ok, worst.code, reason)
    return ProgramReport(p.name, p.section, info.kind or "unknown", info.target, p.path,
                         p.range, results, p.alternative)


def _excused(model: SourceModel, reports: list[ProgramReport],
             alternatives: Iterable[Iterable[str]]) -> set[tuple[str, str]]:
    """(program, kernel) pairs whose failures do not count: another member of one of its
    groups of alternatives passes there."""
    groups: dict[str, set[str]] = {}
    for p in model.programs:
        if p.alternative:
            groups.setdefault(f"comment:{p.alternative}", set()).add(p.name)
    for i, g in enumerate(alternatives):
        groups[f"config:{i}"] = set(g)
    by_name = {r.name: r for r in reports}
    out: set[tuple[str, str]] = set()
    for members in groups.values():
        present = [by_name[m] for m in members if m in by_name]
        if len(present) < 2:
            continue
        for r in present:
            for n in r.results:
                if any(o is not r and o.results.get(n, ProgramResult(True)).ok is not False
                       for o in present):
                    out.add((r.name, n))
    return out


# -- calls, maps, ksyms, struct_ops, dereferences ----------------------------------------------

def _executes(call: KernelCall, names: list[str], verdicts: Verdicts) -> dict[str, bool | None]:
    decided = getattr(call, "executes", None)  # an object's call: its control flow decides
    if decided is not None:
        return {n: decided.get(n) for n in names}
    g = call.guard
    if g is None or g.is_true:
        return dict.fromkeys(names, True)
    out: dict[str, bool | None] = {}
    for n in names:
        verdict = verdicts.get(n)
        out[n] = g.evaluate(verdict) if verdict is not None else None
    return out


def _call_issues(model: SourceModel, vs: list[KernelView], verdicts: Verdicts,
                 reach: dict[str, tuple[str, ...]]) -> list[Issue]:
    names = [v.name for v in vs]
    kfuncs = {k.name: k for k in model.ksyms if k.function}
    served: dict[str, bool] = {}  # helper → every kernel has it
    out: list[Issue] = []
    for c in model.calls:
        if not c.reachable:
            continue
        ksym = kfuncs.get(c.name) or IMPLIED_KFUNCS.get(c.name)
        if ksym is None and c.name not in HELPERS:
            continue  # neither a helper nor a declared kfunc: nothing to look up
        if ksym is not None and not ksym.weak:
            continue  # judged once, at the declaration
        if ksym is None:
            everywhere = served.get(c.name)
            if everywhere is None:
                everywhere = served[c.name] = all(v.helper(c.name).ok is not False for v in vs)
            if everywhere:
                continue  # every kernel has the helper: no guard to evaluate
        runs = _executes(c, names, verdicts)
        progs = reach.get(c.function, ())
        configured = c.guard is not None and c.guard.configured
        for v in vs:
            if runs[v.name] is False:
                continue
            if ksym is not None:
                if c.ksym_checked:
                    continue
                lk = v.kfunc(ksym.name, model.local, ksym.type_id if ksym.typed else None)
                if lk.ok is False and configured and runs[v.name] is None:
                    out.append(_configured(c, f"kfunc {c.name}", v.name, lk.reason, progs))
                elif lk.ok is False:
                    out.append(Issue("kfunc-missing",
                                     f"weak kfunc '{c.name}' is called without a "
                                     f"bpf_ksym_exists({c.name}) check and the kernel lacks it "
                                     "(or its prototype differs): the verifier rejects the call",
                                     c.path, c.range, v.name, lk.reason, {"kfunc": c.name},
                                     progs))
                continue
            lk = v.helper(c.name)
            if lk.ok is False and configured and runs[v.name] is None:
                out.append(_configured(c, f"helper {c.name}", v.name, lk.reason, progs))
            elif lk.ok is False:
                enumerator = attach.helper_enumerator(c.name)
                via = f" (through {c.via})" if c.via else ""
                out.append(Issue("helper-missing",
                                 f"helper {c.name}{via} is not in the kernel (no {enumerator} in "
                                 "enum bpf_func_id): the verifier rejects the call; guard it "
                                 f"with bpf_core_enum_value_exists(enum bpf_func_id, "
                                 f"{enumerator})", c.path, c.range, v.name, lk.reason,
                                 {"helper": c.name, "enumerator": enumerator}, progs))
    return out


#: kfuncs libbpf's own macros call, declared (weak) by its headers: bpf_core_cast()
IMPLIED_KFUNCS = {"bpf_rdonly_cast": Ksym("bpf_rdonly_cast", "<bpf/bpf_core_read.h>",
                                          Range.of(0, 0, 0, 0), function=True, weak=True,
                                          type_id=None, typed=False)}


def _configured(c: KernelCall, what: str, kernel: str, reason: str,
                progs: tuple[str, ...]) -> Issue:
    """A call the kernel cannot serve, under a condition on a load-time constant: whether it
    fails the load is the loader's configuration's decision."""
    via = f" (through {c.via})" if c.via else ""
    return Issue("depends-on-config",
                 f"{what}{via} is not in the kernel, and the call runs only as a value the "
                 "loader sets decides (a const volatile global, a __kconfig extern): the load "
                 "fails unless that value rules the call out there", c.path, c.range, kernel,
                 reason, {"call": c.name}, progs)


def _map_issues(model: SourceModel, vs: list[KernelView]) -> list[Issue]:
    out: list[Issue] = []
    for m in model.maps:
        if m.type:
            for v in vs:
                lk = v.map_type(m.type)
                if lk.ok is False:
                    out.append(Issue("map-type-missing",
                                     f"map '{m.name}': the kernel has no map type {m.type}",
                                     m.path, m.type_range or m.range, v.name, lk.reason,
                                     {"map": m.name, "enumerator": m.type}))
        for flag, rng in m.flags:
            got = [(v, v.map_flag(flag)) for v in vs]
            if all(lk.ok is False for _, lk in got):
                continue  # no kernel has it as an enumerator: a macro, not a kernel name
            for v, lk in got:
                if lk.ok is False:
                    out.append(Issue("map-flag-missing",
                                     f"map '{m.name}': the kernel has no map flag {flag}",
                                     m.path, rng, v.name, lk.reason,
                                     {"map": m.name, "enumerator": flag}))
    return out


def _ksym_issues(model: SourceModel, vs: list[KernelView]) -> list[Issue]:
    out: list[Issue] = []
    for k in model.ksyms:
        if not k.used or k.weak:
            continue
        for v in vs:
            if k.function:
                lk = v.kfunc(k.name, model.local, k.type_id)
                if lk.ok is False:
                    found = lk.type_id is not None
                    what = ("its prototype is incompatible with the kernel's" if found else
                            "it is not a FUNC in the kernel's or its modules' BTF")
                    out.append(Issue("kfunc-incompatible" if found else "kfunc-missing",
                                     f"kfunc '{k.name}': {what} (libbpf fails the load)",
                                     k.path, k.range, v.name, lk.reason, {"kfunc": k.name}))
            elif k.typed:
                lk = v.ksym_var(k.name)
                if lk.ok is False:
                    out.append(Issue("ksym-missing",
                                     f"ksym '{k.name}': not a VAR in the kernel's BTF (libbpf "
                                     "fails the load; declare it __weak to make it optional)",
                                     k.path, k.range, v.name, lk.reason, {"ksym": k.name}))
    return out


def _struct_ops_issues(model: SourceModel, vs: list[KernelView]) -> list[Issue]:
    out: list[Issue] = []
    for s in model.struct_ops:
        for v in vs:
            lk = v.struct_ops(s.type_name, tuple(m for m, _ in s.members))
            if lk.ok is not False:
                continue
            rng = s.range
            hit = v.find(s.type_name, Kind.STRUCT)
            if hit is not None:
                have = {m.name for m in hit[1].members}
                for m, r in s.members:
                    if m not in have:
                        rng = r
                        break
            out.append(Issue("struct-ops-missing",
                             f"struct_ops '{s.name}': the kernel's struct {s.type_name} is "
                             "missing or lacks a member it sets", s.path, rng, v.name,
                             lk.reason, {"struct": s.type_name}))
    return out


def _deref_issues(model: SourceModel, names: list[str], reach: dict[str, tuple[str, ...]],
                  infos: dict[int, SectionInfo]) -> list[Issue]:
    out: list[Issue] = []
    by_name = {p.name: infos[id(p)] for p in model.programs}
    for d in model.derefs:
        if not d.reachable:
            continue
        progs = tuple(p for p in reach.get(d.function, ())
                      if by_name[p].known and not by_name[p].btf_pointers)
        if not progs:
            continue
        repl = f"BPF_CORE_READ({d.base}, {', '.join(d.members)})"
        types = sorted({by_name[p].prog_type or "" for p in progs})
        msg = (f"'{d.base}' holds a kernel pointer as a number (from {d.origin}): reading "
               f"{'->'.join((d.base, *d.members))} directly fails verification in "
               f"{', '.join(t.removeprefix('BPF_PROG_TYPE_') for t in types)} programs "
               f"({', '.join(progs)}); use {repl}")
        for n in names:
            out.append(Issue("kernel-pointer-deref", msg, d.path, d.range, n,
                             data={"replacement": repl,
                                   "expr_range": [d.expr_range.start.line,
                                                  d.expr_range.start.column,
                                                  d.expr_range.end.line,
                                                  d.expr_range.end.column]},
                             programs=progs, all_kernels=True))
    return out


# -- grouping --------------------------------------------------------------------------------

def _group(issues: list[Issue], names: list[str]) -> list[Diagnostic]:
    """One diagnostic per problem, its kernels listed (with each kernel's fact)."""
    groups: dict[tuple, list[Issue]] = {}
    for i in issues:
        key = (i.code, i.path, i.range, i.message)
        groups.setdefault(key, []).append(i)
    out: list[Diagnostic] = []
    for (code, path, rng, message), got in groups.items():
        on = tuple(dict.fromkeys(i.kernel for i in got))
        first = got[0]
        if first.all_kernels or len(on) == len(names):
            where = "every configured kernel" if len(names) > 1 else (on[0] if on else "")
            text = f"{message} (on {where})" if not first.all_kernels else message
        else:
            text = f"{message} on {', '.join(on)}"
        facts = tuple(KernelFact(i.kernel, i.fact) for i in got if i.fact)
        out.append(diagnostic(code, text, path, rng, on, facts, dict(first.data)))
    return out
