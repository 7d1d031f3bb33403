"""Judge every predicted CO-RE relocation of a translation unit on every configured kernel.

Pure function of (source model, kernel set, severity overrides): ``bpfls check`` and the
language server both call :func:`check_model`, so they cannot disagree.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from bpfls.analysis.diagnostics import (
    CODES,
    Diagnostic,
    KernelFact,
    Severity,
)
from bpfls.analysis.pitfalls import SpellingDiff, enum_sign_extension, spelling_only_mismatch
from bpfls.analysis.report import FileReport, KernelResult, RelocationReport
from bpfls.btf import Kind
from bpfls.core.names import essential_name
from bpfls.core.relo import ReloKind
from bpfls.core.resolve import ERROR, MISSING, RESOLVED, ZERO, CoreResolver, Resolution
from bpfls.project.config import Config, define_map
from bpfls.project.kernels import KernelSet, guess_arch
from bpfls.source import SourceOptions
from bpfls.source.model import CoreAccess, SourceModel
from bpfls.source.positions import Range

GUARD_HINT = {
    "field": "guard it with bpf_core_field_exists()",
    "type": "guard it with bpf_core_type_exists()",
    "enum": "guard it with bpf_core_enum_value_exists()",
}


_KIND_WORD = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
              Kind.ENUM64: "enum", Kind.TYPEDEF: "typedef"}


@dataclass
class _Judged:
    access: CoreAccess
    results: dict[str, Resolution]  # kernel name → resolution


def resolve_model(model: SourceModel, kernels: KernelSet) -> list[_Judged]:
    """Resolve the reachable accesses in program order on every loaded kernel (libbpf's
    per-object candidate cache and pruning included)."""
    reachable = [a for a in model.accesses if a.reachable]
    judged = [_Judged(a, {}) for a in reachable]
    for k in kernels.loaded:
        resolver = CoreResolver(k.btf, memo=_memo_for(k.btf, model))
        for j in judged:
            j.results[k.name] = resolver.resolve(j.access.relocation)
    return judged


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
    return SourceOptions(primary=primary, include_dirs=tuple(file_cfg.include),
                         defines=define_map(file_cfg.defines),
                         undefines=tuple(file_cfg.undefines), arch=guess_arch(primary),
                         overlays=dict(overlays or {}))


def _check_value(res: Resolution | None) -> bool | None:
    if res is None or res.status == ERROR:
        return None
    if res.status == ZERO:
        return False
    return bool(res.target_value)


def _family(kind: ReloKind) -> str:
    if kind.is_field:
        return "field"
    if kind.is_enumval:
        return "enum"
    return "type"


def _did_you_mean(access: CoreAccess, res: Resolution, kernels: KernelSet,
                  kernel: str) -> str | None:
    """The target member closest to the missing one's name (same root type)."""
    k = kernels.get(kernel)
    relo = access.relocation
    if not access.accessors or k is None or k.btf is None:
        return None
    root = relo.local.skip_modifiers(relo.type_id)
    want = access.accessors[-1].name
    memo = _CLOSE.setdefault(k.btf, {})
    key = (essential_name(root.name), want)
    if key in memo:
        return memo[key]
    cand = k.btf.find_all(key[0])
    names: set[str] = set()
    for t in cand:
        if t.kind in (Kind.STRUCT, Kind.UNION):
            _member_names(k.btf, t, names, 0)
    close = difflib.get_close_matches(want, sorted(names), n=1, cutoff=0.6)
    memo[key] = out = close[0] if close and close[0] != want else None
    return out


#: target kernel → (root's essential name, missing member) → the closest member name
_CLOSE: WeakKeyDictionary = WeakKeyDictionary()


def _member_names(btf, t, out: set[str], depth: int) -> None:
    if depth > 8:
        return
    for m in t.members:
        if m.name:
            out.add(m.name)
        else:
            inner = btf.resolve(m.type_id)
            if inner.kind in (Kind.STRUCT, Kind.UNION):
                _member_names(btf, inner, out, depth + 1)


def _fact(res: Resolution) -> str:
    if res.status == RESOLVED:
        if res.kind.is_field and res.target_offset is not None:
            return (f"{res.target_spec or res.spec} at offset {res.target_offset}, "
                    f"{res.target_size} bytes")
        return f"{res.target_spec or res.spec} = {res.target_value}"
    return res.reason or res.status


def check_model(model: SourceModel, kernels: KernelSet,
                severity: Mapping[str, str] | None = None) -> FileReport:
    severity = severity or {}
    report = FileReport(model.path)
    diags: list[Diagnostic] = []
    for sd in model.diagnostics:
        diags.append(Diagnostic(sd.code, Severity(sd.severity),
                                sd.message, sd.path, sd.range, data=dict(sd.data)))
    judged = resolve_model(model, kernels)
    by_access = {id(j.access): j for j in judged}
    names = [k.name for k in kernels.loaded]

    def verdict_on(kernel: str):
        def verdict(check: CoreAccess) -> bool | None:
            j = by_access.get(id(check))
            return _check_value(j.results.get(kernel)) if j else None
        return verdict

    verdicts = {n: verdict_on(n) for n in names}
    always = dict.fromkeys(names, True)
    # what only depends on the relocation and its resolutions, worked out once for every
    # access that has the same (a relocation repeated in many functions)
    shared: dict[tuple, _Shared] = {}
    specs: dict[tuple, str] = {}
    kernel_results: dict[tuple, KernelResult] = {}
    for j in judged:
        a = j.access
        relo = a.relocation
        rkey = (id(relo.local), relo.kind, relo.type_id, relo.access)
        spec = a.spec_text
        if spec is None:
            spec = specs.get(rkey)
            if spec is None:
                spec = specs[rkey] = a.spec
            else:
                a.spec_text = spec
        key = (rkey, spec, *map(id, j.results.values()))
        sh = shared.get(key)
        if sh is None:
            sh = shared[key] = _shared(a, j, kernel_results)
        rng = a.range
        guard = a.guard
        report.relocations.append(RelocationReport(
            kind=sh.kind, spec=spec, path=a.path, range=rng,
            guarded=guard is not None and not guard.is_true, reachable=True,
            results=dict(sh.results)))
        if a.repeat:
            continue  # the same relocation again (bitfield macros): judged once
        errors = sh.errors
        if errors:
            r0 = j.results[errors[0]]
            code = ("ambiguous-flavors" if r0.error_kind == "ambiguous"
                    else "anonymous-root" if r0.error_kind == "anonymous-root"
                    else "relocation-error")
            diags.append(Diagnostic(
                code, CODES[code].severity,
                f"{spec}: libbpf rejects this relocation on {', '.join(errors)}: "
                f"{r0.reason}", a.path, rng, tuple(errors),
                tuple(KernelFact(n, _fact(j.results[n])) for n in errors),
                {"kind": sh.kind, "spec": spec}))
            continue
        executes = (always if guard is None or guard.is_true else
                    {n: guard.evaluate(verdicts[n]) for n in names})
        if sh.sx_on:
            assert sh.sx is not None
            diags.append(_sign_extension_diag(a, j, sh.sx_on, sh.sx, rng))
        if sh.missing:
            failing = [n for n in sh.missing if executes[n] is not False]
            if failing:
                diags.extend(_missing_diags(a, j, failing, kernels, rng))
        if a.kind == ReloKind.TYPE_MATCHES:
            diags.extend(_spelling_diags(a, j, rng))
        if sh.constant is not None and len(names) > 1:
            diags.append(Diagnostic(
                "constant-check", CODES["constant-check"].severity,
                f"{a.macro}({spec}) is {'true' if sh.constant else 'false'} on every "
                f"configured kernel ({', '.join(names)})", a.path, rng, tuple(names)))
        size_diag = _size_diag(a, j, executes, rng)
        if size_diag is not None:
            diags.append(size_diag)
    # relocations in code no program reaches: at most a hint per function
    seen_fn: set[str | None] = set()
    for a in model.accesses:
        if not a.reachable and a.function not in seen_fn:
            seen_fn.add(a.function)
            diags.append(Diagnostic(
                "unreachable-relocation", CODES["unreachable-relocation"].severity,
                f"CO-RE accesses in '{a.function}' are not checked: no program calls it",
                a.path, a.range))
    report.diagnostics = _apply_severity(diags, severity)
    return report


@dataclass
class _Shared:
    """The parts of a relocation's judgement that do not depend on where it is written."""

    kind: str
    results: tuple[tuple[str, KernelResult], ...]
    errors: list[str]
    sx: tuple[int, int] | None
    sx_on: list[str]
    missing: list[str]  # kernels where it is poisoned (before the guards are looked at)
    constant: bool | None  # an existence check with the same answer on every kernel


def _shared(a: CoreAccess, j: _Judged, cache: dict[tuple, KernelResult]) -> _Shared:
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
        values = {_check_value(r) for r in j.results.values()}
        if len(values) == 1 and None not in values:
            constant = values.pop()
    return _Shared(str(a.kind), tuple(results),
                   [n for n, r in j.results.items() if r.status == ERROR], sx, sx_on,
                   [n for n, r in j.results.items() if r.status == MISSING], constant)


def _missing_category(a: CoreAccess, res: Resolution) -> str:
    """Why a poisoned relocation failed on one kernel: its root type has no candidate at all
    (``typedef-root`` for a typedef root, else ``type-missing``), or the member / enumerator
    is missing or incompatible in the candidates."""
    if not res.candidates:
        local = a.relocation.local.skip_modifiers(a.relocation.type_id)
        return "typedef-root" if local.kind == Kind.TYPEDEF else "type-missing"
    fam = _family(a.kind)
    if fam == "field":
        return "field-incompatible" if "incompatible" in (res.reason or "") else "field-missing"
    return "enum-value-missing" if fam == "enum" else "type-missing"


def _missing_diags(a: CoreAccess, j: _Judged, failing: list[str], kernels: KernelSet,
                   rng: Range) -> list[Diagnostic]:
    """One diagnostic per reason the relocation is poisoned on the failing kernels."""
    by_code: dict[str, list[str]] = {}
    for n in failing:
        by_code.setdefault(_missing_category(a, j.results[n]), []).append(n)
    return [_missing_diag(a, j, code, on, kernels, rng) for code, on in by_code.items()]


def _root_words(a: CoreAccess) -> tuple[str, str]:
    """The local root as written (``struct task_struct___o``) and as the kernel names it
    (``struct task_struct (read as struct task_struct___o)``)."""
    relo = a.relocation
    t = relo.local.skip_modifiers(relo.type_id)
    local = f"{_KIND_WORD.get(t.kind, 'type')} {t.name}"
    essential = essential_name(t.name)
    if essential != t.name:  # a ___flavor: name the kernel's type
        return local, f"{local.split()[0]} {essential} (read as {local})"
    return local, local


def _missing_diag(a: CoreAccess, j: _Judged, code: str, failing: list[str],
                  kernels: KernelSet, rng: Range) -> Diagnostic:
    fam = _family(a.kind)
    r0 = j.results[failing[0]]
    on = ", ".join(failing)
    data: dict = {}
    local_root, root = _root_words(a)
    if code == "typedef-root":
        under = a.relocation.local.resolve(a.relocation.type_id)
        target = f"{_KIND_WORD.get(under.kind, 'type')} {under.name}" if under.name else None
        msg = (f"{a.spec} goes through {local_root}, and {on} have no typedef of that name: "
               "libbpf relocates a typedef root only against a kernel typedef of the same "
               "name")
        msg += f"; access it as {target}" if target else "; access it through a named type"
    elif code == "type-missing":
        msg = (f"{root} does not exist on {on}, so {a.spec} cannot be relocated there; "
               f"{GUARD_HINT[fam]}")
    elif fam == "field":
        member = a.accessors[-1].name if a.accessors else a.spec
        if code == "field-incompatible":
            msg = f"'{member}' has an incompatible type in {root} on {on}"
        else:
            msg = f"'{member}' is missing in {root} on {on}"
        alt = _did_you_mean(a, r0, kernels, failing[0])
        if alt:
            msg += f" (did you mean '{alt}'?)"
        msg += f"; {GUARD_HINT['field']} or read it through a ___flavor struct"
        data = {"member": member, "suggest": alt}
    else:
        msg = f"{a.spec} does not exist on {on}; {GUARD_HINT['enum']}"
    facts = tuple(KernelFact(n, _fact(r)) for n, r in j.results.items())
    return Diagnostic(code, CODES[code].severity, msg, a.path, rng, tuple(failing), facts, data)


def _sign_extension_diag(a: CoreAccess, j: _Judged, on: list[str], sx: tuple[int, int],
                         rng: Range) -> Diagnostic:
    emitted, expected = sx
    msg = (f"{a.spec} = {emitted} ({emitted:#x}) is an unsigned 32-bit enumerator with bit 31 "
           f"set: clang emits {emitted:#x}, libbpf sign-extends 32-bit enum values and expects "
           f"{expected:#x}, so the load fails on {', '.join(on)} ('unexpected insn (LDIMM64) "
           "value'), guarded or not; declare the enumerator in a local ___flavor enum with its "
           "negative value (e.g. -2147483648 for 0x80000000) and truncate the result to 32 bits")
    facts = tuple(KernelFact(n, _fact(j.results[n])) for n in on)
    return Diagnostic("enum-sign-extension", CODES["enum-sign-extension"].severity, msg,
                      a.path, rng, tuple(on), facts,
                      {"kind": str(a.kind), "spec": a.spec, "emitted": emitted,
                       "expected": expected})


_MAX_NAMED = 3  # members named per spelling difference in a message


def _spelling_diags(a: CoreAccess, j: _Judged, rng: Range) -> list[Diagnostic]:
    """``bpf_core_type_matches`` that is 0 on some kernels only because base types are spelled
    differently by clang and by the kernel's BTF (one diagnostic per distinct set of
    differences)."""
    groups: dict[tuple[SpellingDiff, ...], list[str]] = {}
    for n, r in j.results.items():
        if r.status == ERROR:
            continue
        diffs = spelling_only_mismatch(a.relocation,
                                       [(c.btf, c.type_id) for c in r.candidates])
        if diffs:
            groups.setdefault(tuple(diffs), []).append(n)
    out = []
    for diffs, on in groups.items():
        by_desc: dict[str, list[str]] = {}
        for d in diffs:
            by_desc.setdefault(d.describe(), []).append(f"'{d.where}'" if d.where
                                                        else "the type itself")
        parts = []
        for desc, where in by_desc.items():
            named = ", ".join(where[:_MAX_NAMED])
            if len(where) > _MAX_NAMED:
                named += f" and {len(where) - _MAX_NAMED} more"
            parts.append(f"{named}: {desc}")
        msg = (f"{a.macro}({a.spec}) is false on {', '.join(on)} only because clang and the "
               f"kernel's BTF spell base types differently ({'; '.join(parts)}); type matching "
               "compares integer type names and signedness, so use int, unsigned int, "
               "unsigned char, pointers or enums in the local type, or check fields with "
               "bpf_core_field_exists()")
        out.append(Diagnostic(
            "type-matches-spelling", CODES["type-matches-spelling"].severity, msg, a.path, rng,
            tuple(on), tuple(KernelFact(n, _fact(j.results[n])) for n in on),
            {"members": [d.where for d in diffs]}))
    return out


def _size_diag(a: CoreAccess, j: _Judged, executes: dict[str, bool | None],
               rng: Range) -> Diagnostic | None:
    if a.kind != ReloKind.FIELD_BYTE_OFFSET:
        return None
    local = a.read_size if a.probe_read else a.load_size if a.load else None
    if not local or "STR" in a.macro.upper():
        return None  # string reads take a buffer size, not the field's
    differ = []
    for n, r in j.results.items():
        if r.status != RESOLVED or executes[n] is False or r.target_field is None:
            continue
        if r.target_field.bitfield:
            continue
        if r.target_size is not None and r.target_size != local:
            differ.append((n, r.target_size))
    if not differ:
        return None
    member = a.accessors[-1].name if a.accessors else a.spec
    sizes = ", ".join(f"{s} bytes on {n}" for n, s in differ)
    how = "copies" if a.probe_read else "loads"
    msg = (f"{a.macro} {how} {local} bytes of '{member}' but the kernel's field is {sizes}")
    return Diagnostic("read-size-mismatch", CODES["read-size-mismatch"].severity, msg, a.path,
                      rng, tuple(n for n, _ in differ),
                      tuple(KernelFact(n, f"{s} bytes") for n, s in differ))


def _apply_severity(diags: list[Diagnostic], overrides: Mapping[str, str]) -> list[Diagnostic]:
    out = []
    for d in diags:
        level = overrides.get(d.code)
        if level == "off":
            continue
        if level:
            d = Diagnostic(d.code, Severity(level), d.message, d.path, d.range, d.kernels,
                           d.facts, d.data)
        out.append(d)
    return out
