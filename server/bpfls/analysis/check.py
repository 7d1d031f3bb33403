"""Judge every predicted CO-RE relocation of a translation unit on every configured kernel.

Pure function of (source model, kernel set, severity overrides): ``bpfls check`` and the
language server both call :func:`check_model`, so they cannot disagree. It resolves each
reachable relocation on every loaded kernel (:func:`resolve_model`), works out once per
distinct relocation what only depends on those resolutions (:class:`~bpfls.analysis.rules.
Verdict`), and runs the rules of :mod:`bpfls.analysis.rules` on each site. It reads the source
model and never changes it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from bpfls.analysis import rules
from bpfls.analysis.diagnostics import Diagnostic, apply_severity, diagnostic
from bpfls.analysis.load_check import check_load
from bpfls.analysis.pitfalls import enum_sign_extension
from bpfls.analysis.report import FileReport, KernelResult, RelocationReport
from bpfls.analysis.rules import Kernels, Site, Verdict, check_value
from bpfls.core.resolve import ERROR, MISSING, RESOLVED, CoreResolver, Resolution
from bpfls.project.config import Config, define_map
from bpfls.project.kernels import KernelSet, guess_arch
from bpfls.source import SourceOptions
from bpfls.source.model import CoreAccess, SourceDiagnostic, SourceModel


@dataclass
class Judged:
    """One relocation as written, with its resolution on each loaded kernel."""

    access: CoreAccess
    results: dict[str, Resolution]  # kernel name → resolution


def resolve_model(model: SourceModel, kernels: KernelSet) -> list[Judged]:
    """Resolve the reachable accesses in program order on every loaded kernel (libbpf's
    per-object candidate cache and pruning included)."""
    return _resolved([a for a in model.accesses if a.reachable], model, kernels)


def _resolved(accesses: list[CoreAccess], model: SourceModel, kernels: KernelSet
              ) -> list[Judged]:
    judged = [Judged(a, {}) for a in accesses]
    for k in kernels.loaded:
        resolver = CoreResolver(k.btf, memo=_memo_for(k.btf, model))
        for j in judged:
            j.results[k.name] = resolver.resolve(j.access.relocation)
    return judged


def _verdicts(judged: list[Judged], names: list[str]) -> dict[str, Callable]:
    """Per kernel, the value each resolved existence check takes there (None for an access
    not among ``judged``): what guards are evaluated with."""
    by_access = {id(j.access): j for j in judged}

    def verdict_on(kernel: str):
        def verdict(check: CoreAccess) -> bool | None:
            j = by_access.get(id(check))
            return check_value(j.results.get(kernel)) if j else None
        return verdict

    return {n: verdict_on(n) for n in names}


#: target kernel → the program's base (primary kernel) → the program's own types' fingerprint
#: → CoreResolver memo. Re-checking after an edit that leaves the types alone reuses every
#: result; a few fingerprints are kept per base (types being edited back and forth).
_MEMOS: WeakKeyDictionary = WeakKeyDictionary()
_MEMOS_PER_BASE = 4


def _memo_for(target, model: SourceModel) -> dict | None:
    base = model.local.base
    if base is None:
        return None
    per_base = _MEMOS.setdefault(target, WeakKeyDictionary()).setdefault(base, OrderedDict())
    fp = model.local.fingerprint()
    memo = per_base.get(fp)
    if memo is None:
        memo = per_base[fp] = {}
        while len(per_base) > _MEMOS_PER_BASE:
            per_base.popitem(last=False)
    else:
        per_base.move_to_end(fp)
    return memo


def source_options(file_cfg: Config, kernels: KernelSet,
                   overlays: Mapping[str, str] | None = None) -> SourceOptions:
    """How ``bpfls check`` and the editor read one file: ``file_cfg`` is the configuration with
    the file's compile flags merged (:func:`bpfls.project.config.with_compile_flags`)."""
    primary = kernels.primary_btf
    return SourceOptions(primary=primary,
                         kernels=tuple((k.name, k.btf) for k in kernels.loaded
                                       if k.btf is not None),
                         include_dirs=tuple(file_cfg.include),
                         defines=define_map(file_cfg.defines),
                         undefines=tuple(file_cfg.undefines), arch=guess_arch(primary),
                         overlays=dict(overlays or {}))


def load_verdicts(model: SourceModel, kernels: KernelSet) -> dict[str, Callable]:
    """Per kernel, the value of each existence check that guards a call of the program (the
    CO-RE verdicts :func:`bpfls.analysis.load_check.check_load` evaluates call guards with),
    for a report whose relocations came from elsewhere (a compiled object)."""
    atoms = {id(a): a for c in model.calls if c.guard is not None for a in c.guard.atoms()}
    return _verdicts(_resolved(list(atoms.values()), model, kernels),
                     [k.name for k in kernels.loaded])


def check_model(model: SourceModel, kernels: KernelSet,
                severity: Mapping[str, str] | None = None,
                alternatives: Iterable[Iterable[str]] = ()) -> FileReport:
    """Every diagnostic of ``model`` on ``kernels`` (the source model's own findings, then
    each reachable relocation's, then the unreachable ones'), with the configured severities,
    and every reachable relocation's per-kernel results. The primary kernel is the one the
    program's ``vmlinux.h`` is the dump of, unless one was configured. Then what the
    programs ask of each kernel by name (:func:`bpfls.analysis.load_check.check_load`, with
    the CO-RE verdicts for its guards and the configured groups of ``alternatives``)."""
    kernels = kernels.for_program(model.vmlinux_kernel)
    report = FileReport(model.path, primary=kernels.primary)
    diags: list[Diagnostic] = [source_finding(sd) for sd in model.diagnostics]
    judged = resolve_model(model, kernels)
    names = [k.name for k in kernels.loaded]
    verdicts = _verdicts(judged, names)
    always = dict.fromkeys(names, True)

    def executes(j: Judged, verdict: Verdict) -> dict[str, bool | None]:
        guard = j.access.guard
        if guard is None or guard.is_true or verdict.errors:
            return always
        return {n: guard.evaluate(verdicts[n]) for n in names}

    def guarded(j: Judged) -> bool:
        return j.access.guard is not None and not j.access.guard.is_true

    report.relocations, found = judge(judged, Kernels(kernels, names), executes, guarded)
    diags.extend(found)
    load_diags, report.programs = check_load(model, kernels, verdicts, alternatives)
    diags.extend(load_diags)
    diags.extend(rules.unreachable(model))
    if not judged and not any(d.code == "analysis-incomplete" for d in diags):
        diags.extend(rules.nothing_judged(model))
    report.diagnostics = apply_severity(diags, severity or {})
    return report


def judge(judged: list[Judged], ks: Kernels,
          executes: Callable[[Judged, Verdict], dict[str, bool | None]],
          guarded: Callable[[Judged], bool]) -> tuple[list[RelocationReport], list[Diagnostic]]:
    """The relocation reports and the rules' diagnostics of resolved relocations, in order.
    ``executes`` says on which kernels a relocation can run (its guards, or the object's
    control flow), ``guarded`` whether anything may keep it from running."""
    relocations: list[RelocationReport] = []
    diags: list[Diagnostic] = []
    # what only depends on the relocation and its resolutions, worked out once for every
    # access that has the same (a relocation repeated in many functions)
    shared: dict[tuple, Verdict] = {}
    specs: dict[tuple, str] = {}
    kernel_results: dict[tuple, KernelResult] = {}
    for j in judged:
        a = j.access
        relo = a.relocation
        rkey = (id(relo.local), relo.kind, relo.type_id, relo.access)
        spec = a.spec_text or specs.get(rkey)
        if spec is None:
            spec = specs[rkey] = a.spec
        key = (rkey, spec, *map(id, j.results.values()))
        verdict = shared.get(key)
        if verdict is None:
            verdict = shared[key] = _verdict(a, j, kernel_results)
        relocations.append(RelocationReport(
            kind=verdict.kind, spec=spec, path=a.path, range=a.range, guarded=guarded(j),
            reachable=True, results=dict(verdict.results)))
        if a.repeat:
            continue  # the same relocation again (bitfield macros): judged once
        site = Site(a, spec, j.results, verdict, executes(j, verdict))
        error = rules.hard_error(site, ks)
        if error is not None:
            diags.append(error)
            continue
        for rule in rules.SITE_RULES:
            diags.extend(rule(site, ks))
    return relocations, diags


def source_finding(sd: SourceDiagnostic) -> Diagnostic:
    """A finding of the source model, as a diagnostic (its severity from the code table)."""
    return diagnostic(sd.code, sd.message, sd.path, sd.range, data=dict(sd.data))


def _verdict(a: CoreAccess, j: Judged, cache: dict[tuple, KernelResult]) -> Verdict:
    is_field = a.kind.is_field
    # libbpf validates clang's immediate wherever the enumerator resolves
    sx = enum_sign_extension(a.relocation)
    sx_on = [n for n, r in j.results.items() if r.status == RESOLVED] if sx else []
    sx_note = (f"libbpf expects {sx[1]:#x}, clang emits {sx[0]:#x}: the load fails"
               if sx else "")
    results = []
    for n, r in j.results.items():
        rkey = (r.status == RESOLVED, r.target_offset if is_field else r.target_value,
                r.target_size if is_field else None, sx_note if n in sx_on else r.reason or "")
        ckey = (rkey, type(rkey[1]), type(rkey[2]))  # 1 and True are different results
        kr = cache.get(ckey)
        if kr is None:
            kr = cache[ckey] = KernelResult(*rkey)
        results.append((n, kr))
    constant = None
    if a.check:
        values = {check_value(r) for r in j.results.values()}
        if len(values) == 1 and None not in values:
            constant = values.pop()
    return Verdict(str(a.kind), tuple(results),
                   [n for n, r in j.results.items() if r.status == ERROR], sx, sx_on,
                   [n for n, r in j.results.items() if r.status == MISSING], constant)
