"""Diagnostics: the record, and the table of stable codes.

:data:`CODES` is the one place a code lives: its default severity, its title and its
documentation. Every diagnostic the engine reports (the source model's findings and the CO-RE
rules of :mod:`bpfls.analysis.rules`) carries one of these codes, and takes its severity from
here unless the configuration overrides it (``[severity]`` in ``bpfls.toml``). The VS Code
extension's ``bpfls.severity`` setting lists the same codes (its tests compare).

To add a diagnostic: a :class:`Code` here, the rule that emits it (a function in
:mod:`bpfls.analysis.rules`, or a finding of the source model), a line in the test corpus or a
test, and the code in ``vscode-extension/package.json``'s ``bpfls.severity``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from bpfls.source.positions import Range


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1, Severity.HINT: 0}


@dataclass(frozen=True)
class KernelFact:
    """What one kernel says about the diagnosed access (shown as related information)."""

    kernel: str
    text: str


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    path: str
    range: Range
    kernels: tuple[str, ...] = ()
    facts: tuple[KernelFact, ...] = ()
    data: dict = field(default_factory=dict, compare=False)  # machine-readable extras (fixes)


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    title: str
    description: str


CODES: dict[str, Code] = {c.code: c for c in (
    Code("unknown-type", Severity.ERROR, "Unknown type",
         "The type is neither defined by the program nor present in the primary kernel "
         "(the one vmlinux.h was generated from)."),
    Code("unknown-member", Severity.ERROR, "Unknown member",
         "The member does not exist in the local definition of the type (clang would reject "
         "it: 'no member named ...')."),
    Code("field-missing", Severity.ERROR, "Field missing on some kernels",
         "A CO-RE field access that libbpf cannot relocate on some configured kernels and that "
         "is not guarded by bpf_core_field_exists(): the program fails to load there."),
    Code("field-incompatible", Severity.ERROR, "Field type incompatible on some kernels",
         "The field exists but its type is not CO-RE compatible with the local one (e.g. int "
         "vs pointer), so libbpf treats it as missing."),
    Code("read-size-mismatch", Severity.WARNING, "Read size differs from the kernel's field",
         "BPF_CORE_READ copies the local field size; the kernel's field has another size, so "
         "the value is truncated or over-read."),
    Code("type-missing", Severity.ERROR, "Type missing on some kernels",
         "A relocation whose root type has no candidate on some configured kernels."),
    Code("enum-value-missing", Severity.ERROR, "Enum value missing on some kernels",
         "bpf_core_enum_value() of an enumerator that does not exist on some kernels."),
    Code("constant-check", Severity.HINT, "Existence check is constant",
         "A bpf_core_*_exists() / bpf_core_type_matches() check gives the same answer on every "
         "configured kernel: one branch is dead for all of them."),
    Code("ambiguous-flavors", Severity.ERROR, "Ambiguous relocation",
         "Several target types match the relocation with different results: libbpf refuses to "
         "load the program."),
    Code("anonymous-root", Severity.ERROR, "Anonymous root type",
         "CO-RE relocations need a named root type; libbpf rejects anonymous ones."),
    Code("typedef-root", Severity.ERROR, "Typedef root without a kernel typedef",
         "The access goes through a typedef, which libbpf looks up as a typedef of that name; "
         "some kernels have none."),
    Code("enum-sign-extension", Severity.ERROR, "32-bit enum value >= 2^31",
         "libbpf reads 32-bit enum values as signed and sign-extends them; for an unsigned "
         "enumerator >= 2^31 clang emits another value, and the load fails on every kernel "
         "that has the enumerator, guarded or not."),
    Code("type-matches-spelling", Severity.WARNING, "bpf_core_type_matches on base types",
         "bpf_core_type_matches compares base-type names and signedness, which clang and the "
         "kernel's BTF spell differently (unsigned long vs long unsigned int, char's sign): "
         "the type does not match on some kernels only because of that."),
    Code("unreachable-relocation", Severity.HINT, "Relocation in code no program calls",
         "A CO-RE access in a static function that no program reaches; it is not checked."),
    Code("unknown-enumerator", Severity.ERROR, "Unknown enumerator",
         "The enumerator does not exist in the local definition of the enum."),
    Code("not-an-enum", Severity.ERROR, "Not an enum",
         "An enum-value check names a type that is not an enum."),
    Code("bad-enumerator", Severity.ERROR, "Not an enumerator",
         "The second argument of bpf_core_enum_value() / bpf_core_enum_value_exists() is not "
         "one enumerator name."),
    Code("bad-accessor", Severity.ERROR, "Bad access path",
         "A CO-RE access path that does not apply to the type at that point (e.g. an index "
         "into a non-array)."),
    Code("not-a-pointer", Severity.ERROR, "Not a pointer",
         "A BPF_CORE_READ hop goes through a member that is not a pointer."),
    Code("incomplete-type", Severity.ERROR, "Incomplete type",
         "The access goes through a type that is only declared (a forward declaration)."),
    Code("include-not-found", Severity.WARNING, "Include not found",
         "A local header was not found on the include path; its declarations are unknown."),
    Code("include-depth", Severity.ERROR, "Includes nested too deeply",
         "#include nests deeper than the preprocessor allows (an include cycle without a "
         "guard); the deeper header is not read."),
    Code("preprocessor", Severity.WARNING, "Preprocessor problem",
         "A preprocessor directive bpfls could not evaluate; the region is treated as active."),
    Code("unbalanced-conditional", Severity.ERROR, "Unbalanced #if",
         "#elif, #else or #endif without #if, or #if without #endif: clang rejects the file."),
    Code("preprocessor-error", Severity.ERROR, "#error",
         "An active #error directive."),
    Code("preprocessor-warning", Severity.WARNING, "#warning",
         "An active #warning directive."),
    Code("vmlinux-h", Severity.WARNING, "vmlinux.h",
         "A problem with the vmlinux.h the program includes (not found, or no primary kernel "
         "and it could not be parsed)."),
    Code("read-error", Severity.ERROR, "Cannot read file",
         "A source file or header could not be read."),
    Code("analysis-incomplete", Severity.WARNING, "Not fully analysed",
         "bpfls could not follow part of the program (no kernel types, code it cannot parse, "
         "a macro it cannot expand, a type it cannot resolve): the CO-RE accesses there are "
         "not checked. Compiling (--compile, compile = \"auto\") checks what clang emits."),
    Code("compile-error", Severity.ERROR, "clang rejects the program",
         "Compiling the file with clang failed; this is clang's first error. The relocations "
         "are predicted from the source instead."),
    Code("internal-error", Severity.ERROR, "bpfls could not analyse the file",
         "The analysis failed on this file (a problem in bpfls, reported with what failed); "
         "nothing else is checked in it."),
    Code("relocation-error", Severity.ERROR, "Relocation fails to load",
         "libbpf rejects this relocation before the verifier runs (parse error, bitfield wider "
         "than 8 bytes, unsupported kind on an array element, ...)."),
    Code("unknown-section", Severity.WARNING, "Section libbpf does not recognise",
         "SEC(\"...\") names no section of libbpf's table (libbpf 1.x: exact names, or "
         "name/target for the ones that take a target): libbpf cannot tell the program type "
         "and the load fails (\"missing BPF prog type, check ELF section name\")."),
    Code("attach-target-missing", Severity.ERROR, "Attach target missing on some kernels",
         "The fentry/fexit/fmod_ret/lsm/iter/tp_btf/raw_tp target is not in the kernel's BTF "
         "(vmlinux or the configured modules) under libbpf's name for it (the function, "
         "bpf_lsm_<hook>, bpf_iter_<name>, btf_trace_<tracepoint>): the load fails there."),
    Code("depends-on-config", Severity.WARNING, "Missing call left to the loader's settings",
         "A helper or kfunc call the kernel cannot serve sits under a condition on a value "
         "the loader fixes before the load (a const volatile global, a __kconfig extern): "
         "the verifier prunes the branch that value rules out, so whether the load fails "
         "depends on how user space sets it."),
    Code("attach-target-unknown", Severity.WARNING, "Attach target on no configured kernel",
         "The attach target of an fentry/fexit/fmod_ret/lsm/iter/tp_btf program is in no "
         "configured kernel's BTF: a misspelled name, or a placeholder the loader replaces "
         "before the load (bpf_program__set_attach_target). libbpf fails the load otherwise."),
    Code("attach-target-unverified", Severity.WARNING, "No BTF evidence of the attach target",
         "kprobe/kretprobe/ksyscall/tracepoint targets need not be in BTF (kprobes attach to "
         "any kallsyms function): BTF has no FUNC (or btf_trace_ typedef, or syscall "
         "function) of that name on some kernels, so the target may be missing (renamed or "
         "inlined) there. Evidence only."),
    Code("program-type-missing", Severity.ERROR, "Program type missing on some kernels",
         "The BPF_PROG_TYPE_* the section implies (or the expected attach type the kernel "
         "checks for it) is not in the kernel's enum bpf_prog_type / bpf_attach_type: the "
         "kernel is older than the program type."),
    Code("signature-mismatch", Severity.WARNING, "Program arguments differ from the kernel's",
         "A BPF_PROG/BPF_PROG2 (or BPF_KPROBE) parameter's type differs from the kernel "
         "function's (or tracepoint's) argument at that position, after typedefs and "
         "qualifiers: the program reads the slot as another type without any error."),
    Code("argument-out-of-range", Severity.ERROR, "Parameter beyond the function's arguments",
         "A BPF_PROG parameter the program uses lies beyond the target's arguments (and its "
         "return value for fexit/fmod_ret/lsm): the verifier rejects the context access."),
    Code("helper-missing", Severity.ERROR, "Helper missing on some kernels",
         "A reachable helper call whose BPF_FUNC_<name> is not in the kernel's enum "
         "bpf_func_id and that no bpf_core_enum_value_exists(enum bpf_func_id, ...) guard "
         "keeps from running there: the verifier rejects the program."),
    Code("map-type-missing", Severity.ERROR, "Map type missing on some kernels",
         "The map's BPF_MAP_TYPE_* is not in the kernel's enum bpf_map_type: creating the map "
         "fails there."),
    Code("map-flag-missing", Severity.ERROR, "Map flag missing on some kernels",
         "A flag in the map's map_flags is an enumerator the kernel does not have: creating "
         "the map fails there."),
    Code("kfunc-missing", Severity.ERROR, "kfunc missing on some kernels",
         "An extern __ksym function is not a FUNC in the kernel's (or its modules') BTF: "
         "libbpf fails the load, or for a __weak one called without bpf_ksym_exists(), the "
         "verifier rejects the call."),
    Code("kfunc-incompatible", Severity.ERROR, "kfunc prototype incompatible",
         "The extern __ksym function's prototype is not compatible with the kernel's "
         "(libbpf's bpf_core_types_are_compat): libbpf fails the load."),
    Code("ksym-missing", Severity.ERROR, "ksym missing on some kernels",
         "A typed extern __ksym variable (not __weak) is not a VAR in the kernel's BTF: "
         "libbpf fails the load."),
    Code("struct-ops-missing", Severity.ERROR, "struct_ops type or member missing",
         "The struct_ops variable's ops struct, or a member its initialiser sets, is not in "
         "the kernel's BTF: libbpf fails the load."),
    Code("kernel-pointer-deref", Severity.ERROR, "Direct read through a kernel pointer",
         "A kernel pointer held as a plain number (bpf_get_current_task(), a kprobe argument, "
         "PT_REGS_PARM*, a probe read) is dereferenced directly in a program type whose "
         "verifier does not track BTF pointers (kprobe, tracepoint, ...): verification fails "
         "on every kernel. Read it with BPF_CORE_READ()."),
)}


def diagnostic(code: str, message: str, path: str, range: Range,
               kernels: tuple[str, ...] = (), facts: tuple[KernelFact, ...] = (),
               data: dict | None = None) -> Diagnostic:
    """A diagnostic with its code's default severity (:data:`CODES`)."""
    return Diagnostic(code, CODES[code].severity, message, path, range, kernels, facts,
                      data if data is not None else {})


def apply_severity(diags: list[Diagnostic], overrides: Mapping[str, str]) -> list[Diagnostic]:
    """The configured severities (``"off"`` drops the diagnostic)."""
    out = []
    for d in diags:
        level = overrides.get(d.code)
        if level == "off":
            continue
        if level:
            d = replace(d, severity=Severity(level))
        out.append(d)
    return out
