"""The CO-RE rules: one function per diagnostic (or family of codes) that checking a relocation
on the configured kernels can give.

A rule reads one :class:`Site` (a reachable relocation as written, with libbpf's verdict on
every loaded kernel and what only depends on those verdicts, worked out once per distinct
relocation) and the :class:`Kernels` it was judged on, and returns its diagnostics. It never
changes the site or the source model. :func:`bpfls.analysis.check.check_model` runs
:func:`hard_error` first (a relocation libbpf rejects gets only that), then :data:`SITE_RULES`
in order; :func:`unreachable` runs once per file.

To add a rule: a function ``(site, kernels) -> Iterable[Diagnostic]`` here, appended to
:data:`SITE_RULES`, with its code in :data:`bpfls.analysis.diagnostics.CODES`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from bpfls.analysis.diagnostics import Diagnostic, KernelFact, diagnostic
from bpfls.analysis.pitfalls import SpellingDiff, spelling_only_mismatch
from bpfls.analysis.report import KernelResult
from bpfls.btf import Kind
from bpfls.core.names import essential_name
from bpfls.core.relo import ReloKind
from bpfls.core.resolve import ERROR, RESOLVED, ZERO, Resolution
from bpfls.project.kernels import KernelSet
from bpfls.source.model import CoreAccess, SourceModel

GUARD_HINT = {
    "field": "guard it with bpf_core_field_exists()",
    "type": "guard it with bpf_core_type_exists()",
    "enum": "guard it with bpf_core_enum_value_exists()",
}

_KIND_WORD = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum",
              Kind.ENUM64: "enum", Kind.TYPEDEF: "typedef"}

_MAX_NAMED = 3  # members named per spelling difference in a message


@dataclass(frozen=True)
class Verdict:
    """The parts of a relocation's judgement that do not depend on where it is written."""

    kind: str
    results: tuple[tuple[str, KernelResult], ...]
    errors: list[str]  # kernels where libbpf rejects it
    sx: tuple[int, int] | None  # enum sign extension: (clang's value, libbpf's)
    sx_on: list[str]
    missing: list[str]  # kernels where it is poisoned (before the guards are looked at)
    constant: bool | None  # an existence check with the same answer on every kernel


@dataclass(frozen=True)
class Site:
    """One reachable relocation as written: its access, libbpf's spec, its resolution on each
    loaded kernel, the shared :class:`Verdict`, and whether it executes on each kernel (its
    guards evaluated: ``False`` means it cannot run there)."""

    access: CoreAccess
    spec: str
    results: dict[str, Resolution]
    verdict: Verdict
    executes: dict[str, bool | None]


@dataclass(frozen=True)
class Kernels:
    """The kernels a file was checked on: the set, and the names of the loaded ones."""

    set: KernelSet
    names: list[str]


def check_value(res: Resolution | None) -> bool | None:
    """What an existence check answers on a kernel (``None``: libbpf rejects it there)."""
    if res is None or res.status == ERROR:
        return None
    if res.status == ZERO:
        return False
    return bool(res.target_value)


def fact(res: Resolution) -> str:
    """What one kernel has, for a diagnostic's related information."""
    if res.status == RESOLVED:
        if res.kind.is_field and res.target_offset is not None:
            return (f"{res.target_spec or res.spec} at offset {res.target_offset}, "
                    f"{res.target_size} bytes")
        return f"{res.target_spec or res.spec} = {res.target_value}"
    return res.reason or res.status


def _facts(site: Site, on: Iterable[str]) -> tuple[KernelFact, ...]:
    return tuple(KernelFact(n, fact(site.results[n])) for n in on)


def _family(kind: ReloKind) -> str:
    if kind.is_field:
        return "field"
    if kind.is_enumval:
        return "enum"
    return "type"


# -- rules ---------------------------------------------------------------------------------


def hard_error(site: Site, kernels: Kernels) -> Diagnostic | None:
    """``relocation-error``, ``ambiguous-flavors``, ``anonymous-root``: libbpf refuses the
    relocation before the verifier runs, guarded or not."""
    errors = site.verdict.errors
    if not errors:
        return None
    r0 = site.results[errors[0]]
    a = site.access
    return diagnostic(_hard_error_code(r0), f"{site.spec}: libbpf rejects this relocation on "
                            f"{', '.join(errors)}: {r0.reason}", a.path, a.range,
                      tuple(errors), _facts(site, errors),
                      {"kind": site.verdict.kind, "spec": site.spec})


def _hard_error_code(res: Resolution) -> str:
    if res.error_kind == "ambiguous":
        return "ambiguous-flavors"
    return "anonymous-root" if res.error_kind == "anonymous-root" else "relocation-error"


def enum_sign_extension(site: Site, kernels: Kernels) -> Iterable[Diagnostic]:
    """``enum-sign-extension``: an unsigned 32-bit enumerator with bit 31 set, which clang and
    libbpf extend differently (the load fails wherever it resolves, guarded or not)."""
    v = site.verdict
    if not v.sx_on:
        return ()
    assert v.sx is not None
    a, on = site.access, v.sx_on
    emitted, expected = v.sx
    msg = (f"{site.spec} = {emitted} ({emitted:#x}) is an unsigned 32-bit enumerator with bit "
           f"31 set: clang emits {emitted:#x}, libbpf sign-extends 32-bit enum values and "
           f"expects {expected:#x}, so the load fails on {', '.join(on)} ('unexpected insn "
           "(LDIMM64) value'), guarded or not; declare the enumerator in a local ___flavor "
           "enum with its negative value (e.g. -2147483648 for 0x80000000) and truncate the "
           "result to 32 bits")
    return (diagnostic("enum-sign-extension", msg, a.path, a.range, tuple(on),
                       _facts(site, on), {"kind": str(a.kind), "spec": site.spec,
                                          "emitted": emitted, "expected": expected}),)


def missing_on_kernels(site: Site, kernels: Kernels) -> Iterable[Diagnostic]:
    """``field-missing``, ``field-incompatible``, ``type-missing``, ``typedef-root``,
    ``enum-value-missing``: poisoned on kernels where it can execute (one diagnostic per
    reason)."""
    failing = [n for n in site.verdict.missing if site.executes[n] is not False]
    if not failing:
        return ()
    by_code: dict[str, list[str]] = {}
    for n in failing:
        by_code.setdefault(_missing_code(site.access, site.results[n]), []).append(n)
    return [_missing(site, code, on, kernels) for code, on in by_code.items()]


def type_matches_spelling(site: Site, kernels: Kernels) -> Iterable[Diagnostic]:
    """``type-matches-spelling``: ``bpf_core_type_matches`` that is 0 on some kernels only
    because clang and the kernel's BTF spell base types differently (one diagnostic per
    distinct set of differences)."""
    a = site.access
    if a.kind != ReloKind.TYPE_MATCHES:
        return ()
    groups: dict[tuple[SpellingDiff, ...], list[str]] = {}
    for n, r in site.results.items():
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
        msg = (f"{a.macro}({site.spec}) is false on {', '.join(on)} only because clang and "
               f"the kernel's BTF spell base types differently ({'; '.join(parts)}); type "
               "matching compares integer type names and signedness, so use int, unsigned "
               "int, unsigned char, pointers or enums in the local type, or check fields with "
               "bpf_core_field_exists()")
        out.append(diagnostic("type-matches-spelling", msg, a.path, a.range, tuple(on),
                              _facts(site, on), {"members": [d.where for d in diffs]}))
    return out


def constant_check(site: Site, kernels: Kernels) -> Iterable[Diagnostic]:
    """``constant-check``: an existence check with the same answer on every configured kernel
    (when there are several)."""
    c = site.verdict.constant
    names = kernels.names
    if c is None or len(names) <= 1:
        return ()
    a = site.access
    return (diagnostic("constant-check", f"{a.macro}({site.spec}) is "
                                         f"{'true' if c else 'false'} on every configured "
                                         f"kernel ({', '.join(names)})",
                       a.path, a.range, tuple(names)),)


def read_size_mismatch(site: Site, kernels: Kernels) -> Iterable[Diagnostic]:
    """``read-size-mismatch``: a load or probe read of the local field's size where the
    kernel's field has another size (not for strings and bitfields)."""
    a = site.access
    if a.kind != ReloKind.FIELD_BYTE_OFFSET:
        return ()
    local = a.read_size if a.probe_read else a.load_size if a.load else None
    if not local or "STR" in a.macro.upper():
        return ()  # string reads take a buffer size, not the field's
    differ = []
    for n, r in site.results.items():
        if r.status != RESOLVED or site.executes[n] is False or r.target_field is None:
            continue
        if r.target_field.bitfield:
            continue
        if r.target_size is not None and r.target_size != local:
            differ.append((n, r.target_size))
    if not differ:
        return ()
    member = a.accessors[-1].name if a.accessors else site.spec
    sizes = ", ".join(f"{s} bytes on {n}" for n, s in differ)
    how = "copies" if a.probe_read else "loads"
    msg = f"{a.macro} {how} {local} bytes of '{member}' but the kernel's field is {sizes}"
    return (diagnostic("read-size-mismatch", msg, a.path, a.range,
                       tuple(n for n, _ in differ),
                       tuple(KernelFact(n, f"{s} bytes") for n, s in differ)),)


#: the rules of a relocation libbpf accepts, in the order their diagnostics are reported
SITE_RULES: tuple[Callable[[Site, Kernels], Iterable[Diagnostic]], ...] = (
    enum_sign_extension, missing_on_kernels, type_matches_spelling, constant_check,
    read_size_mismatch)


def unreachable(model: SourceModel) -> list[Diagnostic]:
    """``unreachable-relocation``: at most one hint per function of the file itself that no
    program calls (a shared header's helpers that this program does not use are not its
    concern: every program including the header would get them)."""
    out = []
    seen_fn: set[str | None] = set()
    for a in model.accesses:
        if not a.reachable and a.function not in seen_fn and a.path == model.path:
            seen_fn.add(a.function)
            out.append(diagnostic(
                "unreachable-relocation",
                f"CO-RE accesses in '{a.function}' are not checked: no program calls it",
                a.path, a.range))
    return out


def nothing_judged(model: SourceModel) -> list[Diagnostic]:
    """``analysis-incomplete``: the program uses CO-RE macros, yet no relocation that a
    program can run was predicted: never a silent pass."""
    if model.first_core_use is None:
        return []
    path, rng = model.first_core_use
    if any(not a.reachable for a in model.accesses):
        why = "the ones predicted are in functions no program calls"
    else:
        why = "bpfls could not follow the CO-RE macros this file uses"
    return [diagnostic("analysis-incomplete",
                       f"no CO-RE relocation was checked in this file: {why}; compile it "
                       "(--compile) to check what clang emits", path, rng)]


# -- the missing family --------------------------------------------------------------------


def _missing_code(a: CoreAccess, res: Resolution) -> str:
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


def _missing(site: Site, code: str, failing: list[str], kernels: Kernels) -> Diagnostic:
    a = site.access
    fam = _family(a.kind)
    on = ", ".join(failing)
    data: dict = {}
    local_root, root = _root_words(a)
    if code == "typedef-root":
        under = a.relocation.local.resolve(a.relocation.type_id)
        target = f"{_KIND_WORD.get(under.kind, 'type')} {under.name}" if under.name else None
        msg = (f"{site.spec} goes through {local_root}, and {on} have no typedef of that "
               "name: libbpf relocates a typedef root only against a kernel typedef of the "
               "same name")
        msg += f"; access it as {target}" if target else "; access it through a named type"
    elif code == "type-missing":
        msg = (f"{root} does not exist on {on}, so {site.spec} cannot be relocated there; "
               f"{GUARD_HINT[fam]}")
        data = {"root": local_root}
    elif fam == "field":
        member = a.accessors[-1].name if a.accessors else site.spec
        if code == "field-incompatible":
            msg = f"'{member}' has an incompatible type in {root} on {on}"
        else:
            msg = f"'{member}' is missing in {root} on {on}"
        alt = _did_you_mean(a, kernels.set, failing[0])
        if alt:
            msg += f" (did you mean '{alt}'?)"
        msg += f"; {GUARD_HINT['field']} or read it through a ___flavor struct"
        data = {"member": member, "suggest": alt}
    else:
        msg = f"{site.spec} does not exist on {on}; {GUARD_HINT['enum']}"
    return diagnostic(code, msg, a.path, a.range, tuple(failing),
                      _facts(site, site.results), data)


#: target kernel → (root's essential name, missing member) → the closest member name
_CLOSE: WeakKeyDictionary = WeakKeyDictionary()


def _did_you_mean(access: CoreAccess, kernels: KernelSet, kernel: str) -> str | None:
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
    names: set[str] = set()
    for t in k.btf.find_all(key[0]):
        if t.kind in (Kind.STRUCT, Kind.UNION):
            _member_names(k.btf, t, names, 0)
    close = difflib.get_close_matches(want, sorted(names), n=1, cutoff=0.6)
    memo[key] = out = close[0] if close and close[0] != want else None
    return out


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
