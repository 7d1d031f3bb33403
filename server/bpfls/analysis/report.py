"""What checking one file produces: diagnostics plus every predicted relocation's verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfls.analysis.diagnostics import Diagnostic
from bpfls.source.positions import Range


@dataclass(frozen=True)
class KernelResult:
    resolved: bool
    offset: int | None = None  # byte offset (field kinds) or value (other kinds) on the target
    size: int | None = None
    note: str = ""  # libbpf-like explanation when not resolved


@dataclass(frozen=True)
class RelocationReport:
    kind: str  # libbpf's kind name (byte_off, field_exists, ...)
    spec: str  # libbpf's spec (struct task_struct.real_parent)
    path: str
    range: Range
    guarded: bool
    reachable: bool
    results: dict[str, KernelResult] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftEntry:
    """A relocation the prediction and the compiled object disagree on."""

    kind: str
    spec: str
    path: str
    line: int  # 0-based


@dataclass(frozen=True)
class Drift:
    """How the prediction differs from what clang emitted for the same text."""

    predicted_not_emitted: tuple[DriftEntry, ...] = ()
    emitted_not_predicted: tuple[DriftEntry, ...] = ()


@dataclass(frozen=True)
class ProgramResult:
    """Whether one program loads and attaches on one kernel, by what it names (its section's
    program type and attach target, its arguments): ``ok`` None when BTF gives no evidence
    either way (a kprobe on a function BTF does not describe)."""

    ok: bool | None
    code: str | None = None  # the diagnostic code of the first problem
    reason: str = ""


@dataclass(frozen=True)
class ProgramReport:
    """One ``SEC()`` program and its result on each kernel (the program × kernel matrix)."""

    name: str
    section: str
    kind: str  # what the section makes it: "fentry", "kprobe", "tracepoint", "xdp", ...
    target: str | None  # the attach target the section names, if any
    path: str
    range: Range
    results: dict[str, ProgramResult] = field(default_factory=dict)
    alternative: str | None = None  # the group of alternatives it belongs to


#: how a file was judged: its relocations predicted from the source, those of the object
#: clang compiled from it, or a BPF object given as such
PREDICTED, COMPILED, OBJECT = "predicted", "compiled", "object"


@dataclass
class FileReport:
    path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    relocations: list[RelocationReport] = field(default_factory=list)
    error: str | None = None  # the file could not be read
    mode: str = PREDICTED
    drift: Drift | None = None  # with a compile: prediction vs clang
    #: the primary kernel the source was read with (the one its vmlinux.h is the dump of,
    #: unless a primary was configured)
    primary: str | None = None
    programs: list[ProgramReport] = field(default_factory=list)
