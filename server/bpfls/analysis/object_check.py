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
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bpfls.analysis.check import Judged, judge, load_verdicts
from bpfls.analysis.diagnostics import apply_severity, diagnostic
from bpfls.analysis.load_check import check_load
from bpfls.analysis.object_programs import load_model, place_line
from bpfls.analysis.pitfalls import enum_sign_extension
from bpfls.analysis.report import COMPILED, OBJECT, Drift, DriftEntry, FileReport
from bpfls.analysis.rules import Kernels, Verdict
from bpfls.btf import BtfError
from bpfls.core.ext import ObjectRelo
from bpfls.core.objects import judge_object
from bpfls.core.objfile import BpfObject, read_object
from bpfls.core.patch import BPF_LDX, BPF_ST, BPF_STX
from bpfls.core.relo import ReloKind
from bpfls.core.resolve import ERROR, RESOLVED, Resolution
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
    #: bytes the bpf_probe_read_* call after the relocated address reads, when it is clear
    read_size: int | None = None


def check_object(path: str, kernels: KernelSet,
                 severity: Mapping[str, str] | None = None,
                 alternatives: Iterable[Iterable[str]] = ()) -> FileReport:
    """Every diagnostic and relocation of the BPF object at ``path`` on ``kernels``."""
    report = FileReport(os.path.abspath(path), mode=OBJECT)
    try:
        obj = read_object(path)
        sites = judge_sites(obj, kernels)
    except (BtfError, SpecError, OSError, ValueError) as e:
        report.error = _one_line(e)
        return report
    here = os.path.dirname(os.path.abspath(path))
    texts = _SourceTexts()
    names: dict[tuple, tuple[str, ...]] = {}
    placed = [(s, texts.refine(_access(s, here, report.path, names=names))) for s in sites]
    _judge_into(report, placed, kernels, severity)
    try:
        found, report.programs = check_load(
            load_model(obj, kernels, source_dir=here), kernels,
            alternatives=alternatives)
    except (BtfError, SpecError, OSError, ValueError) as e:
        found = [diagnostic("analysis-incomplete", f"the object's programs, calls and maps "
                            f"could not be read: {_one_line(e)}", report.path,
                            Range.of(0, 0, 0, 0))]
    report.diagnostics = report.diagnostics + apply_severity(found, severity or {})
    # the line as clang recorded it, for a source file that is not here
    lines = {(a.path, a.range.start.line): s.relo.line.text for s, a in placed
             if s.relo.line is not None and s.relo.line.text}
    report.diagnostics = [
        dataclasses.replace(d, data={**d.data, "source_line": lines[key]})
        if (key := (d.path, d.range.start.line)) in lines and not os.path.exists(d.path) else d
        for d in report.diagnostics]
    return report


def check_compiled(model: SourceModel, object_path: str, kernels: KernelSet,
                   severity: Mapping[str, str] | None = None,
                   alternatives: Iterable[Iterable[str]] = ()) -> FileReport:
    """The report of the source ``model`` from the object clang compiled of the same text:
    the object's relocations and diagnostics replace the predicted ones, each placed on the
    token of the predicted access it matches (same kind, spec and file, nearest line) when
    there is one, and the drift between the two is listed."""
    kernels = kernels.for_program(model.vmlinux_kernel)
    report = FileReport(model.path, mode=COMPILED, primary=kernels.primary)
    try:
        sites = judge_sites(object_path, kernels)
    except (BtfError, SpecError, OSError, ValueError) as e:
        report.error = _one_line(e)
        return report
    here = os.path.dirname(os.path.abspath(model.path))
    names: dict[tuple, tuple[str, ...]] = {}
    accesses = [_access(s, here, model.path, stdin=model.path, names=names) for s in sites]
    predicted = [a for a in model.accesses if a.reachable and not a.repeat]
    places = _PredictedPlaces(predicted)
    placed = [(s, places.place(a)) for s, a in zip(sites, accesses, strict=True)]
    _judge_into(report, placed, kernels, severity)
    # what the programs name in the kernel, read from the source as in the prediction
    found, report.programs = check_load(model, kernels, load_verdicts(model, kernels),
                                        alternatives)
    report.diagnostics = report.diagnostics + apply_severity(found, severity or {})
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
    # copies of one access (a function inlined into several programs, a macro expanded twice
    # on one line) give the same diagnostic at the same place: said once
    seen: set[tuple] = set()
    unique = []
    for d in found:
        key = (d.path, d.range, d.code, d.message)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    report.diagnostics = apply_severity(unique, severity or {})


def judge_sites(path: str | BpfObject, kernels: KernelSet) -> list[ObjectSite]:
    """The object's relocations that libbpf processes, in ``.BTF.ext`` order, judged on every
    loaded kernel (the object is read once)."""
    obj = path if isinstance(path, BpfObject) else read_object(path)
    sites: list[ObjectSite] = []
    if not kernels.loaded:
        return [ObjectSite(o, {}, {}, _probe_read_size(obj, o)) for o in obj.ext.relocations]
    for k in kernels.loaded:
        assert k.btf is not None
        verdicts = judge_object(obj, k.btf, poisoned_only=True)
        if not sites:
            sites = [ObjectSite(v.relo, {}, {}, _probe_read_size(obj, v.relo))
                     for v in verdicts]
        for s, v in zip(sites, verdicts, strict=True):
            s.results[k.name] = _as_source_check(v.relo, v.resolution)
            s.executes[k.name] = v.executes
    return sites


def _as_source_check(o: ObjectRelo, res: Resolution) -> Resolution:
    """The resolution the rules judge. An enumerator clang emits unlike libbpf (unsigned,
    bit 31 set) fails the instruction check; the rules say why (``enum-sign-extension``)
    from the resolution before that check, as for a predicted relocation."""
    if res.status == ERROR and res.target_value is not None and \
            enum_sign_extension(o.relocation) is not None:
        return dataclasses.replace(res, status=RESOLVED, reason=None, error_code=None)
    return res


# -- where a relocation was written -----------------------------------------------------------

def _access(site: ObjectSite, here: str, obj_path: str, stdin: str | None = None,
            names: dict[tuple, tuple[str, ...]] | None = None) -> CoreAccess:
    """The relocation as the rules read it (``stdin``: the file a compile from standard
    input stands for; ``names``: the member names of each relocation seen, reused for its
    repeats)."""
    o = site.relo
    line = o.line
    if line is None or not line.file:
        path = obj_path
    elif stdin is not None and os.path.basename(line.file) in ("<stdin>", "-"):
        path = stdin
    else:
        path = _source_path(line.file, here)
    rng, word = place_line(line)
    relo = o.relocation
    insn = o.insn
    cls = insn.cls if insn is not None else -1
    load = cls in (BPF_LDX, BPF_ST, BPF_STX)
    key = (relo.type_id, relo.access, relo.kind)
    members = names.get(key) if names is not None else None
    if members is None:
        try:
            members = tuple(s.name for s in spec_path(relo) if s.name is not None)
        except SpecError:
            members = ()
        if names is not None:
            names[key] = members
    return CoreAccess(
        relocation=relo, path=path, range=rng, expr_range=rng, function=o.section,
        macro=_macro(relo.kind, word, load),
        accessors=tuple(Accessor(n, rng) for n in members),
        load=load, store=cls in (BPF_ST, BPF_STX),
        load_size=insn.mem_size if load and insn is not None else None,
        probe_read=site.read_size is not None, read_size=site.read_size)


#: bpf_probe_read, bpf_probe_read_user, bpf_probe_read_kernel (not the _str ones: a string
#: read takes a buffer's size, not the field's)
_PROBE_READS = frozenset({4, 112, 113})
_MOV_K = (0xB7, 0xB4)  # BPF_ALU64 | BPF_MOV | BPF_K, BPF_ALU | BPF_MOV | BPF_K
_MOV_X, _ADD_K, _ADD_X = 0xBF, 0x07, 0x0F  # BPF_ALU64 | MOV | X, ADD | K, ADD | X
_CALL, _EXIT = 0x85, 0x95
_WINDOW = 12


def _probe_read_size(obj: BpfObject, o: ObjectRelo) -> int | None:
    """The size a ``bpf_probe_read*`` call reads from the relocated address: the relocated
    offset (``rX = off`` or ``rX += off``) is added into the register that becomes the call's
    source argument (r3) within a few instructions and no jump, and r2 holds a constant."""
    sec = obj.sections.get(o.section)
    i = o.insn_off // 8
    if sec is None or not 0 <= i < len(sec):
        return None
    codes, dsts, srcs, _offs, imms = sec.fields
    if codes[i] not in (_ADD_K, *_MOV_K):
        return None
    derived = {dsts[i]}  # the registers holding the offset, or an address made with it
    size: int | None = None
    for j in range(max(i - _WINDOW, 0), i):  # r2 may be set before the offset is loaded
        if dsts[j] == 2 and codes[j] & 7 in (1, 4, 7):
            size = imms[j] if codes[j] in _MOV_K else None
    for j in range(i + 1, min(i + _WINDOW, len(sec))):
        code, dst = codes[j], dsts[j]
        if code == _CALL:
            if srcs[j] == 0 and imms[j] in _PROBE_READS and 3 in derived:
                return size
            return None
        if code == _EXIT or code & 7 in (5, 6):
            return None
        if code & 7 in (1, 4, 7):  # a load or an ALU op writes dst
            if code in (_MOV_X, _ADD_X) and srcs[j] in derived:
                derived.add(dst)
            elif not (code in (_ADD_X, _ADD_K) and dst in derived):
                derived.discard(dst)
            if dst == 2:
                size = imms[j] if code in _MOV_K else None
    return None


def _source_path(file: str, here: str) -> str:
    """The source file clang recorded, made absolute (relative names are taken from the
    object's directory, where a build usually runs, else the working directory)."""
    if os.path.isabs(file):
        return os.path.normpath(file)
    beside = os.path.join(here, file)
    return os.path.normpath(beside if os.path.exists(beside) else os.path.abspath(file))


#: how many lines after clang's line a relocation's name is looked for
_LOOK_AHEAD = 6
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


class _SourceTexts:
    """The source files an object's line info names, read once, to put each relocation on
    its member (type, enumerator) token: clang's line for a relocated instruction is often
    that of an earlier statement (a relocated constant gets no line of its own)."""

    def __init__(self) -> None:
        self.lines: dict[str, list[bytes] | None] = {}

    def _lines(self, path: str) -> list[bytes] | None:
        if path not in self.lines:
            try:
                with open(path, "rb") as f:
                    data = f.read(8 << 20)
                self.lines[path] = data.split(b"\n")
            except OSError:
                self.lines[path] = None
        return self.lines[path]

    def refine(self, a: CoreAccess) -> CoreAccess:
        name = _name_of(a)
        lines = self._lines(a.path) if name else None
        if not lines:
            return a
        want = name.encode()
        start = a.range.start
        for ln in range(start.line, min(start.line + _LOOK_AHEAD, len(lines))):
            text = lines[ln]
            for m in _WORD.finditer(text, start.column if ln == start.line else 0):
                if m.group() == want:
                    rng = Range.of(ln, m.start(), ln, m.end())
                    return dataclasses.replace(
                        a, range=rng, accessors=tuple(Accessor(x.name, rng)
                                                      for x in a.accessors))
        return a


def _name_of(a: CoreAccess) -> str | None:
    """The token a relocation is about: its last member, its enumerator, its type's name."""
    if a.accessors:
        return a.accessors[-1].name
    relo = a.relocation
    try:
        t = relo.local.skip_modifiers(relo.type_id)
        if a.kind.is_enumval:
            return t.values[relo.access[0]].name
        return t.name or None
    except (BtfError, IndexError, TypeError):
        return None


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
