"""The records the source model hands out: accesses, functions, diagnostics, local types.

Positions and ranges are :mod:`bpfls.source.positions`'s (0-based lines, UTF-8 byte columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.spec import format_spec
from bpfls.source.positions import Range

if TYPE_CHECKING:
    from bpfls.btf import Btf
    from bpfls.source.guards import Guard
    from bpfls.source.programs import KernelCall, Ksym, MapDef, Program, ScalarDeref, StructOps


class Accessor(NamedTuple):
    """One named member step of a field access as written (array subscripts are not steps;
    anonymous members are not written): the member name and where it is written."""

    name: str
    range: Range


@dataclass(eq=False)
class CoreAccess:
    """One CO-RE relocation clang would emit for the source, with where and why.

    ``macro`` names what produced it: a libbpf macro (``BPF_CORE_READ``,
    ``bpf_core_field_exists``, ``PT_REGS_PARM1``, ...), a builtin
    (``__builtin_preserve_access_index``) or ``"direct"`` for a plain member access on a type
    carrying ``preserve_access_index``.

    Access modes: ``load`` is a direct LDX/ST/STX of the field (``load_size`` local bytes;
    ``store`` when written); ``probe_read`` is a ``bpf_probe_read_*`` of ``read_size`` local
    bytes (``user`` for the ``_USER`` variants, which read user memory but still relocate
    against kernel BTF). Neither: the address or a field property is taken.

    ``check`` is true for the existence checks that can guard code (``field_exists``,
    ``type_exists``, ``enumval_exists``, ``type_matches``); ``guarded`` then lists the indices
    (into :attr:`SourceModel.accesses`) of the accesses whose guard mentions it.
    """

    relocation: Relocation
    path: str
    range: Range  # the member (type, enumerator) token the relocation is about
    expr_range: Range  # the whole expression / macro invocation
    function: str | None
    macro: str
    accessors: tuple[Accessor, ...] = ()
    load: bool = False
    store: bool = False
    load_size: int | None = None
    probe_read: bool = False
    read_size: int | None = None
    user: bool = False
    guard: Guard | None = None
    reachable: bool = True
    index: int = -1
    guarded: tuple[int, ...] = ()
    #: set when the same relocation appears more than once in one expansion (bitfield macros)
    repeat: int = 0
    #: :attr:`spec`, once formatted (an access reused from the previous analysis brings it)
    spec_text: str | None = field(default=None, repr=False)

    @property
    def kind(self) -> ReloKind:
        return self.relocation.kind

    @property
    def check(self) -> bool:
        return self.relocation.kind.is_check

    @property
    def spec(self) -> str:
        """libbpf's human form: ``struct task_struct.real_parent``, ``enum e::V``, ``struct s``."""
        s = self.spec_text
        if s is None:
            s = self.spec_text = format_spec(self.relocation)
        return s

    @property
    def access_str(self) -> str:
        return self.relocation.access_str

    def __repr__(self) -> str:
        return (f"<CoreAccess {self.relocation.kind} {self.spec} ({self.access_str}) "
                f"{self.path}:{self.range.start.line + 1}:{self.range.start.column + 1} "
                f"{self.macro}>")


@dataclass(eq=False)
class FunctionInfo:
    """A function defined in the translation unit."""

    name: str
    path: str
    range: Range
    name_range: Range
    section: str | None = None  # SEC("...")
    is_static: bool = False
    macro: str | None = None  # BPF_PROG, BPF_KPROBE, ... when defined through one
    reachable: bool = False
    calls: tuple[str, ...] = ()

    @property
    def is_program(self) -> bool:
        return self.section is not None

    @property
    def is_root(self) -> bool:
        """Verified on its own: a program (``SEC``) or a global (non-static) function."""
        return self.section is not None or not self.is_static


@dataclass(eq=False)
class SourceDiagnostic:
    """A finding about the source alone (no kernel needed). ``code`` is one of the stable
    codes of :data:`bpfls.analysis.diagnostics.CODES`, which gives its severity.

    ``data`` carries machine-readable details, e.g. ``{"member": "pidd", "type": "struct
    task_struct", "candidates": [...]}`` for ``unknown-member``.
    """

    code: str
    message: str
    path: str
    range: Range
    data: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"<{self.code} {self.path}:{self.range.start.line + 1}:"
                f"{self.range.start.column + 1} {self.message}>")


@dataclass(eq=False)
class LocalTypeInfo:
    """Where a type of the program's own BTF was defined, and whether it relocates.

    ``path`` is ``<bpf/NAME.h>`` for the definitions of the built-in libbpf headers."""

    type_id: int
    name: str
    kind: str  # "struct", "union", "enum", "typedef"
    path: str
    range: Range
    preserve_access_index: bool = False


@dataclass(eq=False)
class FileScope:
    """The translation unit's file-scope names, for questions about a position (hover,
    completion, go to definition).

    ``variables``: global variable → its type (:class:`bpfls.source.exprtypes.EType` or
    ``None``); ``functions``: function defined or declared → its return type; ``types``: the
    frozen :class:`bpfls.source.localtypes.LocalTypes` that answers type names
    (``types.desc_from_tokens(tokenize(b"struct task_struct *"))``)."""

    variables: dict[str, Any] = field(default_factory=dict)
    functions: dict[str, Any] = field(default_factory=dict)
    types: Any = None


@dataclass(eq=False)
class SourceModel:
    """Everything the source says about CO-RE, for one translation unit."""

    path: str
    local: Btf
    accesses: list[CoreAccess]
    functions: dict[str, FunctionInfo]
    diagnostics: list[SourceDiagnostic]
    files: list[str]
    local_types: dict[int, LocalTypeInfo]
    macros: dict[str, Any]  # name → bpfls.source.macros.MacroDef
    inactive: dict[str, list[tuple[int, int]]]  # path → [first line, last line] not compiled
    vmlinux_h: str | None = None  # the vmlinux.h included (path when found, else its name)
    #: the configured kernel whose ``bpftool`` dump that vmlinux.h is (its BTF is ``local``'s
    #: base), if one is
    vmlinux_kernel: str | None = None
    base_preserve_access_index: bool = False  # vmlinux.h types relocate
    arch: str | None = None  # the __TARGET_ARCH_ assumed when none was configured
    timings: dict[str, float] = field(default_factory=dict)
    scope: FileScope = field(default_factory=FileScope)
    #: where the program first uses a CO-RE macro or builtin (path, range), if it does
    first_core_use: tuple[str, Range] | None = None
    # what the program asks of the kernel by name (bpfls.source.programs), in source order
    programs: list[Program] = field(default_factory=list)
    calls: list[KernelCall] = field(default_factory=list)
    maps: list[MapDef] = field(default_factory=list)
    ksyms: list[Ksym] = field(default_factory=list)
    struct_ops: list[StructOps] = field(default_factory=list)
    derefs: list[ScalarDeref] = field(default_factory=list)

    def preserve_access_index(self, type_id: int) -> bool:
        info = self.local_types.get(type_id)
        if info is not None:
            return info.preserve_access_index
        return self.base_preserve_access_index and type_id < self.local.start_id
