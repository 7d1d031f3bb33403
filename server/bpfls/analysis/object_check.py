"""Judge a compiled BPF object exactly, as libbpf loads it: ``bpfls check prog.bpf.o``.

The relocations are the object's own (``.BTF.ext``, in libbpf's order, with its per-object
candidate cache and pruning and its instruction checks), each resolved on every loaded kernel;
whether a poisoned one fails the load depends on whether the verifier can reach it there, which
:func:`bpfls.core.objects.judge_object` decides on the object's control flow after patching.
The diagnostics are those of the source check (:mod:`bpfls.analysis.rules`, same codes and
messages), placed where clang's line info says the instruction came from: the source file,
line and column it recorded, the token there when the line's text is known.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

from bpfls.analysis.check import Judged, judge
from bpfls.analysis.diagnostics import apply_severity, diagnostic
from bpfls.analysis.pitfalls import enum_sign_extension
from bpfls.analysis.report import COMPILED, OBJECT, Drift, DriftEntry, FileReport
from bpfls.analysis.rules import Kernels, Verdict
from bpfls.btf import BtfError
from bpfls.core.ext import LineInfo, ObjectRelo, read_ext
from bpfls.core.patch import BPF_LDX, BPF_ST, BPF_STX, check_insn
from bpfls.core.relo import ReloKind
from bpfls.core.resolve import ERROR, CoreResolver, Resolution
from bpfls.core.spec import SpecError, spec_path
from bpfls.project.compiler import ClangError
from bpfls.project.kernels import KernelSet
from bpfls.source import catalogue
from bpfls.source.model import Accessor, CoreAccess, SourceModel
from bpfls.source.positions import Range

#: what a relocation of each kind is written with, when the line does not say
_MACRO_OF_KIND = {k: m.name for m in catalogue.MACROS.values()
                  if m.family in (catalogue.Family.FIELD_INFO, catalogue.Family.TYPE_INFO,
                                  catalogue.Family.ENUM_INFO) and len(m.kinds) == 1
                  for k in m.kinds}


@dataclass(frozen=True)
class ObjectSite:
    """One relocation of the object: the record, and on each kernel its resolution and
    whether the verifier can reach it (``None``: not decided)."""

    relo: ObjectRelo
    results: dict[str, Resolution]
    executes: dict[str, bool | None]


#: ELF identification and ``e_machine`` of a BPF object (EM_BPF)
_ELF_MAGIC = b"\x7fELF"
EM_BPF = 247


def is_bpf_object(head: bytes) -> bool:
    """Whether a file starting with ``head`` (at least 20 bytes) is an ELF BPF object."""
    if len(head) < 20 or not head.startswith(_ELF_MAGIC):
        return False
    order = "little" if head[5] == 1 else "big"
    return int.from_bytes(head[18:20], order) == EM_BPF


def check_object(path: str, kernels: KernelSet,
                 severity: Mapping[str, str] | None = None) -> FileReport:
    """Every diagnostic and relocation of the BPF object at ``path`` on ``kernels``."""
    report = FileReport(os.path.abspath(path), mode=OBJECT)
    try:
        sites = judge_sites(path, kernels)
    except (BtfError, SpecError, OSError, ValueError) as e:
        report.error = _one_line(e)
        return report
    here = os.path.dirname(os.path.abspath(path))
    placed = [(s, _access(s.relo, here, report.path)) for s in sites]
    _judge_into(report, placed, kernels, severity)
    # the line as clang recorded it, for a source file that is not here
    lines = {(a.path, a.range.start.line): s.relo.line.text for s, a in placed
             if s.relo.line is not None and s.relo.line.text}
    report.diagnostics = [
        dataclasses.replace(d, data={**d.data, "source_line": lines[key]})
        if (key := (d.path, d.range.start.line)) in lines and not os.path.exists(d.path) else d
        for d in report.diagnostics]
    return report


def check_compiled(model: SourceModel, object_path: str, kernels: KernelSet,
                   severity: Mapping[str, str] | None = None) -> FileReport:
    """The report of the source ``model`` from the object clang compiled of the same text:
    the object's relocations and diagnostics replace the predicted ones, each placed on the
    token of the predicted access it matches (same kind, spec and file, nearest line) when
    there is one, and the drift between the two is listed."""
    report = FileReport(model.path, mode=COMPILED)
    try:
        sites = judge_sites(object_path, kernels)
    except (BtfError, SpecError, OSError, ValueError) as e:
        report.error = _one_line(e)
        return report
    here = os.path.dirname(os.path.abspath(model.path))
    accesses = [_access(s.relo, here, model.path, stdin=model.path) for s in sites]
    predicted = [a for a in model.accesses if a.reachable and not a.repeat]
    places = _PredictedPlaces(predicted)
    placed = [(s, places.place(a)) for s, a in zip(sites, accesses, strict=True)]
    _judge_into(report, placed, kernels, severity)
    report.drift = drift(predicted, accesses)
    return report


def compile_failed(report: FileReport, error: ClangError,
                   severity: Mapping[str, str] | None = None) -> FileReport:
    """The predicted ``report`` of a file clang could not compile, with clang's first error
    (``compile-error``) added: its relocations stay the predicted ones."""
    line, col = max(error.line - 1, 0), max(error.column - 1, 0)
    d = diagnostic("compile-error", f"clang: {error.message}", error.path,
                   Range.of(line, col, line, col + 1))
    report.diagnostics = apply_severity([d], severity or {}) + report.diagnostics
    return report


def drift(predicted: list[CoreAccess], emitted: list[CoreAccess]) -> Drift:
    """The relocations (kind and spec) predicted but not emitted, and emitted but not
    predicted, each once, where it first appears."""
    def first(accesses: list[CoreAccess]) -> dict[tuple[str, str], CoreAccess]:
        out: dict[tuple[str, str], CoreAccess] = {}
        for a in accesses:
            out.setdefault((str(a.kind), a.spec), a)
        return out

    p, e = first(predicted), first(emitted)

    def entries(only: dict[tuple[str, str], CoreAccess], other: dict) -> tuple[DriftEntry, ...]:
        return tuple(DriftEntry(k[0], k[1], a.path, a.range.start.line)
                     for k, a in only.items() if k not in other)
    return Drift(entries(p, e), entries(e, p))


class _PredictedPlaces:
    """The predicted accesses by (kind, spec, file), to place compiled relocations on the
    token the prediction found."""

    def __init__(self, predicted: list[CoreAccess]) -> None:
        self.by_key: dict[tuple[str, str, str], list[CoreAccess]] = {}
        for a in predicted:
            self.by_key.setdefault((str(a.kind), a.spec, a.path), []).append(a)

    def place(self, a: CoreAccess) -> CoreAccess:
        same = self.by_key.get((str(a.kind), a.spec, a.path))
        if not same:
            return a
        line = a.range.start.line
        best = min(same, key=lambda p: abs(p.range.start.line - line))
        read = {} if a.load else {"probe_read": best.probe_read, "read_size": best.read_size,
                                  "user": best.user}
        return dataclasses.replace(a, range=best.range, expr_range=best.expr_range,
                                   accessors=best.accessors or a.accessors,
                                   macro=best.macro, function=best.function or a.function,
                                   **read)


def _judge_into(report: FileReport, placed: list[tuple[ObjectSite, CoreAccess]],
                kernels: KernelSet, severity: Mapping[str, str] | None) -> None:
    names = [k.name for k in kernels.loaded]
    judged = []
    executes: dict[int, dict[str, bool | None]] = {}
    for s, access in placed:
        j = Judged(access, s.results)
        executes[id(j)] = s.executes
        judged.append(j)

    def runs(j: Judged, verdict: Verdict) -> dict[str, bool | None]:
        return executes[id(j)]

    def guarded(j: Judged) -> bool:
        return any(v is False for v in executes[id(j)].values())

    report.relocations, found = judge(judged, Kernels(kernels, names), runs, guarded)
    report.diagnostics = apply_severity(found, severity or {})


def judge_sites(path: str, kernels: KernelSet) -> list[ObjectSite]:
    """The object's relocations in ``.BTF.ext`` order, judged on every loaded kernel."""
    sites: list[ObjectSite] = []
    info = read_ext(path)
    sites = [ObjectSite(o, {}, {}) for o in info.relocations]
    for k in kernels.loaded:
        assert k.btf is not None
        resolver = CoreResolver(k.btf)
        for s in sites:
            unpatched = resolver.resolve(s.relo)
            insn = s.relo.insn
            res = check_insn(unpatched, insn) if insn is not None else unpatched
            s.results[k.name] = _as_source_check(s.relo, res, unpatched)
            s.executes[k.name] = None
    return sites


def _as_source_check(o: ObjectRelo, res: Resolution, unpatched: Resolution) -> Resolution:
    """The resolution the rules judge: an enumerator clang emits unlike libbpf fails the
    instruction check, and the rules say why (``enum-sign-extension``) from the resolution
    before that check, as for a predicted relocation."""
    if res.status == ERROR and unpatched.status != ERROR and \
            enum_sign_extension(o.relocation) is not None:
        return unpatched
    return res


# -- where a relocation was written -----------------------------------------------------------

def _access(o: ObjectRelo, here: str, obj_path: str, stdin: str | None = None) -> CoreAccess:
    """The relocation as the rules read it (``stdin``: the file a compile from standard
    input stands for)."""
    line = o.line
    if line is None or not line.file:
        path = obj_path
    elif stdin is not None and os.path.basename(line.file) in ("<stdin>", "-"):
        path = stdin
    else:
        path = _source_path(line.file, here)
    rng, word = _place(line)
    relo = o.relocation
    insn = o.insn
    cls = insn.cls if insn is not None else -1
    load = cls in (BPF_LDX, BPF_ST, BPF_STX)
    try:
        names = [s.name for s in spec_path(relo) if s.name is not None]
    except SpecError:
        names = []
    return CoreAccess(
        relocation=relo, path=path, range=rng, expr_range=rng, function=o.section,
        macro=_macro(relo.kind, word, load),
        accessors=tuple(Accessor(n, rng) for n in names),
        load=load, store=cls in (BPF_ST, BPF_STX),
        load_size=insn.mem_size if load and insn is not None else None)


def _source_path(file: str, here: str) -> str:
    """The source file clang recorded, made absolute (relative names are taken from the
    object's directory, where a build usually runs, else the working directory)."""
    if os.path.isabs(file):
        return os.path.normpath(file)
    beside = os.path.join(here, file)
    return os.path.normpath(beside if os.path.exists(beside) else os.path.abspath(file))


def _place(line: LineInfo | None) -> tuple[Range, str]:
    """The range of the token at clang's line and column (0-based, UTF-8 bytes), and the
    token. Column 0 (not recorded) gives the line's first non-blank character."""
    if line is None or line.line <= 0:
        return Range.of(0, 0, 0, 0), ""
    ln = line.line - 1
    text = line.text.encode("utf-8", "surrogateescape")
    col = line.col - 1 if line.col > 0 else len(text) - len(text.lstrip())
    col = min(col, len(text))
    end = col
    while end < len(text) and (chr(text[end]).isalnum() or text[end] == ord("_")):
        end += 1
    if end == col:
        end = min(col + 1, len(text))
    return Range.of(ln, col, ln, end), text[col:end].decode("utf-8", "replace")


def _macro(kind: ReloKind, word: str, load: bool) -> str:
    """What the relocation was written with: the intrinsic at its column when there is one,
    else the macro of its kind, a direct access or the builtin."""
    if word in catalogue.MACROS:
        return word
    if kind in _MACRO_OF_KIND:
        return _MACRO_OF_KIND[kind]
    return "direct" if load else "__builtin_preserve_access_index"


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
