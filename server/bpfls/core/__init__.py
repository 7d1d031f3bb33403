"""libbpf CO-RE relocation semantics: what each relocation resolves to on a target kernel.

Inputs are source-independent: a relocation is (kind, local BTF, local root type id, raw access
indices), exactly what clang records in ``.BTF.ext`` (:mod:`bpfls.core.ext` reads them from an
object). This package never imports the LSP stack.

Public API:

- :func:`resolve` / :class:`CoreResolver` → :class:`Resolution` (status ``resolved``,
  ``missing``, ``zero`` or ``error``, values, target types, specs and a reason);
- :func:`format_spec`, :func:`spec_path`, :func:`parse_spec`, :func:`field_info`;
- :func:`essential_name`, :func:`flavor_of`;
- :func:`find_candidates`, :func:`candidates_named` (candidate types on a target);
- :func:`fields_are_compat`, :func:`types_are_compat`, :func:`types_match`;
- :func:`bpfls.core.patch.check_insn` (the instruction checks, when the instruction is known)
  and :func:`bpfls.core.objects.resolve_object` (every relocation of a compiled object; import
  it from its module: it reads ``.BTF.ext`` through :mod:`bpfls.core.ext`).

Compiled objects (import from their modules): :mod:`bpfls.core.objfile` reads a BPF object
(code, functions, where calls lead); :mod:`bpfls.core.reach` finds which instructions the
verifier can reach once libbpf has patched them for a kernel (over the abstract state of
:mod:`bpfls.core.reach_state` and the instruction semantics of :mod:`bpfls.core.bpf_ops`);
:func:`bpfls.core.objects.judge_object` gives each relocation its verdict and whether it
executes.
"""

from bpfls.core.calc import FieldLayout, field_info
from bpfls.core.cands import candidates_named, find_candidates
from bpfls.core.compat import fields_are_compat, types_are_compat, types_match
from bpfls.core.names import essential_name, flavor_of
from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.resolve import (
    ERROR,
    MISSING,
    RESOLVED,
    ZERO,
    CandidateOutcome,
    CoreResolver,
    Resolution,
    resolve,
)
from bpfls.core.spec import (
    Spec,
    SpecError,
    SpecStep,
    format_spec,
    parse_access_str,
    parse_spec,
    spec_path,
)

__all__ = ["ERROR", "MISSING", "RESOLVED", "ZERO", "CandidateOutcome", "CoreResolver",
           "FieldLayout", "ReloKind", "Relocation", "Resolution", "Spec", "SpecError",
           "SpecStep", "candidates_named", "essential_name", "field_info", "fields_are_compat",
           "find_candidates", "flavor_of", "format_spec", "parse_access_str", "parse_spec",
           "resolve", "spec_path", "types_are_compat", "types_match"]
