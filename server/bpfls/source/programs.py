"""What a program asks of the kernel by name, beside its CO-RE relocations.

libbpf and the kernel look these up in the target's BTF at load time, by fixed naming rules:

- :class:`Program`: a ``SEC("...")`` function, its section (which says the program type and
  the attach target) and, for the program macros (``BPF_PROG``, ``BPF_KPROBE``, ...), the
  parameters it reads from the context;
- :class:`KernelCall`: a call of a function the program does not define: a BPF helper (one of
  libbpf's ``bpf_helper_defs.h`` pointers, ``BPF_FUNC_<name>`` in ``enum bpf_func_id``) or a
  kfunc (an ``extern ... __ksym`` prototype, a ``FUNC`` in the kernel's BTF);
- :class:`MapDef`: a BTF-defined map (``SEC(".maps")``), its ``BPF_MAP_TYPE_*`` and flags;
- :class:`Ksym`: an ``extern ... __ksym`` declaration;
- :class:`StructOps`: a ``SEC(".struct_ops")`` variable, its ops struct and members set;
- :class:`ScalarDeref`: a direct load through a kernel pointer the verifier sees as a plain
  number (it came from ``bpf_get_current_task()``, a kprobe argument, ``PT_REGS_PARM*`` or a
  probe read), which fails verification in program types that do not track BTF pointers.

The source model fills them (:attr:`bpfls.source.model.SourceModel.programs`, ...), so does a
compiled object; :mod:`bpfls.analysis.load_check` judges them on each kernel. Positions are
:mod:`bpfls.source.positions`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bpfls.source.positions import Range

if TYPE_CHECKING:
    from bpfls.source.guards import Guard


@dataclass(frozen=True)
class Param:
    """One parameter a program macro reads from the context (after ``ctx``)."""

    name: str
    type_text: str  # as written, spaces normalised: "struct task_struct *"
    type_id: int | None  # the type in SourceModel.local; None when it could not be resolved
    range: Range  # the parameter's declaration (type and name)
    used: bool = True  # the function's body mentions it


@dataclass(eq=False)
class Program:
    """A ``SEC("...")`` function."""

    name: str
    section: str
    path: str
    range: Range  # the function's name (for BPF_PROG(name, ...), the name argument)
    #: the section string's text without its quotes; None when the SEC came from a macro
    section_range: Range | None = None
    macro: str | None = None  # BPF_PROG, BPF_PROG2, BPF_KPROBE, ...; None for a plain function
    params: tuple[Param, ...] = ()  # the macro's parameters after ctx
    #: the group of a ``// bpfls: alternative=NAME`` comment on the SEC line or the line above
    alternative: str | None = None


@dataclass(eq=False)
class KernelCall:
    """A call of a function the program does not define: a helper or a kfunc."""

    name: str  # the function called (after macro expansion: bpf_printk → bpf_trace_vprintk)
    path: str
    range: Range  # the callee's name as written, or the invocation of the macro that calls it
    function: str  # the calling function
    guard: Guard | None = None  # as CoreAccess.guard (entry guards included)
    reachable: bool = True
    #: the call runs only where a weak ksym resolved: under ``bpf_ksym_exists(name)`` or
    #: ``if (name)``
    ksym_checked: bool = False
    via: str | None = None  # the macro whose expansion makes the call ("bpf_printk")


@dataclass(eq=False)
class MapDef:
    """A BTF-defined map."""

    name: str
    path: str
    range: Range  # the map variable's name
    type: str | None = None  # the enumerator given as its type (BPF_MAP_TYPE_HASH), if named
    type_range: Range | None = None
    flags: tuple[tuple[str, Range], ...] = ()  # the enumerators OR-ed into map_flags


@dataclass(eq=False)
class Ksym:
    """An ``extern ... __ksym`` declaration."""

    name: str
    path: str
    range: Range  # its name
    function: bool  # a kfunc prototype (else a variable)
    weak: bool
    type_id: int | None  # in SourceModel.local: the FUNC_PROTO, or the variable's type
    #: a variable of a type other than void: libbpf looks it up as a VAR in BTF (untyped
    #: ones, ``extern const void x __ksym``, come from kallsyms)
    typed: bool = True
    used: bool = False  # a reachable function uses it


@dataclass(eq=False)
class StructOps:
    """A variable in ``SEC(".struct_ops")`` or ``SEC(".struct_ops.link")``."""

    name: str
    type_name: str  # the ops struct's name: "tcp_congestion_ops"
    path: str
    range: Range  # the variable's name
    members: tuple[tuple[str, Range], ...] = ()  # the members its initialiser sets


@dataclass(eq=False)
class ScalarDeref:
    """``base->member`` where ``base`` holds a kernel pointer read as a number."""

    path: str
    range: Range  # the first member token read through the pointer
    expr_range: Range  # the whole access expression
    function: str
    origin: str  # how the pointer was obtained: "bpf_get_current_task()", "PT_REGS_PARM1(ctx)"
    base: str  # the base expression's text ("task")
    #: the member chain read, one accessor path per pointer followed: the arguments after
    #: ``base`` of the ``BPF_CORE_READ`` that reads it (``task->real_parent->tgid``:
    #: ("real_parent", "tgid"); ``p->a.b[1]``: ("a.b[1]",))
    members: tuple[str, ...]
    reachable: bool = True
    #: the macro whose expansion makes the access (None: written so); for
    #: ``BPF_CORE_READ_BITFIELD`` the replacement is ``BPF_CORE_READ_BITFIELD_PROBED``
    via: str | None = None
    guard: Guard | None = None  # as CoreAccess.guard (entry guards included)
