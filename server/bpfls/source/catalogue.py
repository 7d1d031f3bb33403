"""The CO-RE macros and builtins whose meaning the analyser implements itself (the
*intrinsics*), one :class:`Macro` record each, and the lookups derived from them.

A record says what a use of the macro is: its family (:class:`Family`), its arguments by role
(``dst``, ``src``, ``a, ...`` accessors, ``type``, ``field``...), what its value is
(:class:`Value`), which memory it reads (``user``, ``string``, :class:`Memory`), the CO-RE
relocations it makes (:class:`~bpfls.core.relo.ReloKind`, in clang's order), for clang's builtins
the libbpf enum its kind argument takes (:class:`KindArg`), for program macros how ``ctx``
carries the parameters (:class:`ProgramArgs`), and the signature and one-line documentation
hover shows. Every consumer (the relocation walker, :mod:`bpfls.source.query`, the parser's
mask, hover, the quick fixes) reads these records; none keeps its own list of names.

How to add a CO-RE macro form:

1. Add its :class:`Macro` to ``_TABLE`` with the family whose expansion it follows (a new
   ``BPF_CORE_READ``-like hop reader is :attr:`Family.CORE_HOPS`; a new ``bpf_core_type_*``
   is :attr:`Family.TYPE_INFO` with its relocation in ``kinds``), its argument roles (``dst``
   and ``src`` are looked up by name; ``type``/``enum_type`` mark a type argument), its
   :class:`Value`, and ``doc`` for hover.
2. That is all when a family describes it: the walker dispatches on the family in
   :func:`bpfls.source.intrinsics.call_intrinsic` (one function per family: ``core_read``,
   ``core_read_func``, ``bitfield``, ``field_info``, ``type_info``, ``enum_info``, ``builtin``);
   the position queries (:func:`bpfls.source.query.context_at`) complete and hover its members
   by family; :mod:`bpfls.source.headers` defines it with ``bpf_core_read.h``. A form no family
   describes needs its own family and walker function (and
   :func:`bpfls.source.mask.parser_code` handles a type argument only as the first or second).
3. Add a case to the corpus (``tests/corpus``) so that clang and libbpf check its relocations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from bpfls.core.relo import ReloKind


class Family(Enum):
    """How a macro is expanded, and so which walker function models it."""

    CORE_HOPS = "CO-RE hop read"  # BPF_CORE_READ*: src, then one relocated read per accessor
    PROBE_HOPS = "probe hop read"  # BPF_PROBE_READ*: the same, outside any preserved region
    READ_FUNCTION = "read function"  # bpf_core_read*(dst, sz, src): src's address relocated
    BITFIELD = "bitfield"  # BPF_CORE_READ_BITFIELD*, BPF_CORE_WRITE_BITFIELD
    FIELD_INFO = "field info"  # bpf_core_field_*: (field) or (type, field)
    TYPE_INFO = "type info"  # bpf_core_type_*: (type)
    ENUM_INFO = "enum info"  # bpf_core_enum_value*: (enum type, enumerator)
    CAST = "cast"  # bpf_core_cast(ptr, type)
    BUILTIN = "builtin"  # clang's __builtin_preserve_* and __builtin_btf_type_id
    PROGRAM = "program definition"  # BPF_PROG, BPF_KPROBE, ...: a program's header


class Value(Enum):
    """What a use of the macro gives."""

    FIELD = "field"  # the last accessor's value, as read
    INT = "int"  # an integer whatever it reads: an error code, a size, an offset, a bitfield
    CHECK = "check"  # 1 or 0: an existence check that can guard code
    POINTER = "pointer"  # a pointer of the type it names
    VARIES = "varies"  # depends on its arguments (the builtins)
    NONE = "none"  # nothing: a statement or a definition


class Memory(Enum):
    """How the macro reaches the memory its accessors name."""

    PROBE = "probe"  # bpf_probe_read_*() of the address
    LOAD = "load"  # a direct load
    STORE = "store"  # a direct load and store (the write macros change some bits of a word)
    NONE = "none"  # none: the accessors are only described (the info macros, the builtins)


class ProgramArgs(Enum):
    """How a program definition macro passes its parameters."""

    CTX = "ctx"  # BPF_PROG: each from the `unsigned long long *ctx` array
    CTX_PAIRS = "ctx2"  # BPF_PROG2: (type, name) pairs, from the ctx array
    KPROBE = "kprobe"  # PT_REGS_PARMn(ctx) of `struct pt_regs *ctx`
    KRETPROBE = "kretprobe"  # PT_REGS_RC(ctx)
    KSYSCALL = "ksyscall"  # PT_REGS_PARMn_CORE_SYSCALL of the system call's own pt_regs
    USDT = "usdt"  # bpf_usdt_arg()

    @property
    def ctx_array(self) -> bool:
        """``ctx`` is ``unsigned long long *`` (otherwise ``struct pt_regs *``)."""
        return self in (ProgramArgs.CTX, ProgramArgs.CTX_PAIRS)


@dataclass(frozen=True, slots=True)
class KindArg:
    """One of libbpf's enums (``bpf_core_read.h``) that a builtin's second argument takes:
    enumerator ``i`` (value ``i``) asks for relocation ``enumerators[i][1]``."""

    enum: str
    enumerators: tuple[tuple[str, ReloKind], ...]

    def relo_kind(self, value: int | None) -> ReloKind | None:
        """The relocation the argument's value asks for (``None``: not one of the enum's)."""
        if value is None or not 0 <= value < len(self.enumerators):
            return None
        return self.enumerators[value][1]

    def c_text(self) -> str:
        """The enum's definition, as the built-in ``bpf_core_read.h`` has it."""
        body = "".join(f"\t{name} = {i},\n" for i, (name, _) in enumerate(self.enumerators))
        return f"enum {self.enum} {{\n{body}}};\n"


#: ``enum bpf_field_info_kind`` (``__builtin_preserve_field_info``)
FIELD_INFO_KIND = KindArg("bpf_field_info_kind", (
    ("BPF_FIELD_BYTE_OFFSET", ReloKind.FIELD_BYTE_OFFSET),
    ("BPF_FIELD_BYTE_SIZE", ReloKind.FIELD_BYTE_SIZE),
    ("BPF_FIELD_EXISTS", ReloKind.FIELD_EXISTS),
    ("BPF_FIELD_SIGNED", ReloKind.FIELD_SIGNED),
    ("BPF_FIELD_LSHIFT_U64", ReloKind.FIELD_LSHIFT_U64),
    ("BPF_FIELD_RSHIFT_U64", ReloKind.FIELD_RSHIFT_U64)))
#: ``enum bpf_type_id_kind`` (``__builtin_btf_type_id``)
TYPE_ID_KIND = KindArg("bpf_type_id_kind", (
    ("BPF_TYPE_ID_LOCAL", ReloKind.TYPE_ID_LOCAL),
    ("BPF_TYPE_ID_TARGET", ReloKind.TYPE_ID_TARGET)))
#: ``enum bpf_type_info_kind`` (``__builtin_preserve_type_info``)
TYPE_INFO_KIND = KindArg("bpf_type_info_kind", (
    ("BPF_TYPE_EXISTS", ReloKind.TYPE_EXISTS),
    ("BPF_TYPE_SIZE", ReloKind.TYPE_SIZE),
    ("BPF_TYPE_MATCHES", ReloKind.TYPE_MATCHES)))
#: ``enum bpf_enum_value_kind`` (``__builtin_preserve_enum_value``)
ENUM_VALUE_KIND = KindArg("bpf_enum_value_kind", (
    ("BPF_ENUMVAL_EXISTS", ReloKind.ENUMVAL_EXISTS),
    ("BPF_ENUMVAL_VALUE", ReloKind.ENUMVAL_VALUE)))
#: in the order ``bpf_core_read.h`` defines them
KIND_ARGS = (FIELD_INFO_KIND, TYPE_ID_KIND, TYPE_INFO_KIND, ENUM_VALUE_KIND)


@dataclass(frozen=True, slots=True)
class Macro:
    """One CO-RE macro, read function or builtin (see the module notes)."""

    name: str
    family: Family
    #: the arguments by role, as the signature names them (``...``: any number more)
    args: tuple[str, ...]
    value: Value
    memory: Memory = Memory.NONE
    #: the relocations one use makes (per accessor for the hop reads), in clang's order
    kinds: tuple[ReloKind, ...] = ()
    user: bool = False  # reads user memory (still relocated against the kernel's BTF)
    string: bool = False  # the last read is a string read
    #: another form of the arguments (``bpf_core_field_exists(type, field)``)
    other_args: tuple[str, ...] = ()
    kind_arg: KindArg | None = None  # builtins: the enum their second argument is
    program_args: ProgramArgs | None = None  # program macros: how the parameters come
    doc: str | None = None  # what hover says of it (None: hover shows the definition)

    @property
    def hops(self) -> bool:
        """A hop-by-hop reader (``BPF_CORE_READ``, ``BPF_PROBE_READ`` and their forms)."""
        return self.family in (Family.CORE_HOPS, Family.PROBE_HOPS)

    @property
    def into(self) -> bool:
        """Reads into a ``dst`` argument (its value is then an error code)."""
        return "dst" in self.args

    @property
    def src(self) -> int:
        """The index of the ``src`` argument (``-1``: none)."""
        return self.args.index("src") if "src" in self.args else -1

    @property
    def type_arg(self) -> int:
        """The index of the argument the CO-RE macro reads as a type name (``-1``: none;
        the program macros' parameter types are declarations, not arguments)."""
        if self.family is Family.PROGRAM:
            return -1
        for form in (self.args, self.other_args):
            for i, role in enumerate(form):
                if role in ("type", "enum_type"):
                    return i
        return -1

    @property
    def kind(self) -> ReloKind:
        """The one relocation of an info macro or a cast."""
        return self.kinds[0]

    @property
    def signature(self) -> str:
        """``NAME(a, b)``, and ``/ (c, d)`` for the other form."""
        sig = f"{self.name}({', '.join(self.args)})"
        return sig + f" / ({', '.join(self.other_args)})" if self.other_args else sig


# -- the table -------------------------------------------------------------------------------

_BYTE_OFF = (ReloKind.FIELD_BYTE_OFFSET,)
_READ = ("Reads `src->a->b->...` from kernel memory, one CO-RE relocated "
         "`bpf_probe_read_kernel()` per hop: each argument after `src` is one hop (a dotted "
         "path `a.b` stays inside one hop).")
_HOPS = ("src", "a", "...")
_HOPS_INTO = ("dst", "src", "a", "...")


def _core(name: str, args: tuple[str, ...], *, user: bool = False, string: bool = False,
          doc: str | None = None) -> Macro:
    return Macro(name, Family.CORE_HOPS, args, Value.INT if "dst" in args else Value.FIELD,
                 Memory.PROBE, _BYTE_OFF, user, string, doc=doc)


def _probe(name: str, args: tuple[str, ...], *, user: bool = False, string: bool = False,
           doc: str | None = None) -> Macro:
    return Macro(name, Family.PROBE_HOPS, args, Value.INT if "dst" in args else Value.FIELD,
                 Memory.PROBE, _BYTE_OFF, user, string, doc=doc)


def _read_fn(name: str, *, user: bool = False, string: bool = False, doc: str) -> Macro:
    return Macro(name, Family.READ_FUNCTION, ("dst", "sz", "src"), Value.INT, Memory.PROBE,
                 _BYTE_OFF, user, string, doc=doc)


def _field(name: str, kind: ReloKind, doc: str) -> Macro:
    return Macro(name, Family.FIELD_INFO, ("field",), Value.CHECK if kind.is_check else Value.INT,
                 kinds=(kind,), other_args=("type", "field"), doc=doc)


def _type(name: str, kind: ReloKind, doc: str) -> Macro:
    return Macro(name, Family.TYPE_INFO, ("type",), Value.CHECK if kind.is_check else Value.INT,
                 kinds=(kind,), doc=doc)


def _enum(name: str, kind: ReloKind, doc: str) -> Macro:
    return Macro(name, Family.ENUM_INFO, ("enum_type", "enumerator"),
                 Value.CHECK if kind.is_check else Value.INT, kinds=(kind,), doc=doc)


def _builtin(name: str, args: tuple[str, ...], kind_arg: KindArg | None) -> Macro:
    return Macro(name, Family.BUILTIN, args, Value.VARIES, kind_arg=kind_arg)


def _program(name: str, args: tuple[str, ...], how: ProgramArgs, doc: str) -> Macro:
    return Macro(name, Family.PROGRAM, args, Value.NONE, program_args=how, doc=doc)


_TABLE = (
    _core("BPF_CORE_READ", _HOPS, doc=_READ + " Gives the value read."),
    _core("BPF_CORE_READ_INTO", _HOPS_INTO,
          doc=_READ + " Stores it at `dst`; gives 0 or a negative error."),
    _core("BPF_CORE_READ_STR_INTO", _HOPS_INTO, string=True,
          doc=_READ + " The last hop is read as a string into `dst`."),
    _core("BPF_CORE_READ_USER", _HOPS, user=True,
          doc="Like `BPF_CORE_READ`, from user memory (relocated against the kernel's BTF)."),
    _core("BPF_CORE_READ_USER_INTO", _HOPS_INTO, user=True,
          doc="Like `BPF_CORE_READ_INTO`, from user memory."),
    _core("BPF_CORE_READ_USER_STR_INTO", _HOPS_INTO, user=True, string=True,
          doc="Like `BPF_CORE_READ_STR_INTO`, from user memory."),
    _probe("BPF_PROBE_READ", _HOPS,
           doc="Like `BPF_CORE_READ` without CO-RE relocations: the offsets are the ones of the "
               "headers the program was built with."),
    _probe("BPF_PROBE_READ_INTO", _HOPS_INTO,
           doc="Like `BPF_CORE_READ_INTO` without CO-RE relocations."),
    _probe("BPF_PROBE_READ_STR_INTO", _HOPS_INTO, string=True),
    _probe("BPF_PROBE_READ_USER", _HOPS, user=True),
    _probe("BPF_PROBE_READ_USER_INTO", _HOPS_INTO, user=True),
    _probe("BPF_PROBE_READ_USER_STR_INTO", _HOPS_INTO, user=True, string=True),
    _read_fn("bpf_core_read",
             doc="`bpf_probe_read_kernel(dst, sz, src)` with `src` relocated by CO-RE."),
    _read_fn("bpf_core_read_str", string=True,
             doc="`bpf_probe_read_kernel_str()` with `src` relocated by CO-RE."),
    _read_fn("bpf_core_read_user", user=True,
             doc="`bpf_probe_read_user()` with `src` relocated by CO-RE."),
    _read_fn("bpf_core_read_user_str", user=True, string=True,
             doc="`bpf_probe_read_user_str()` with `src` relocated by CO-RE."),
    Macro("BPF_CORE_READ_BITFIELD", Family.BITFIELD, ("s", "field"), Value.INT, Memory.LOAD,
          (ReloKind.FIELD_BYTE_OFFSET, ReloKind.FIELD_BYTE_SIZE, ReloKind.FIELD_LSHIFT_U64,
           ReloKind.FIELD_SIGNED, ReloKind.FIELD_RSHIFT_U64, ReloKind.FIELD_RSHIFT_U64),
          doc="Reads a bitfield directly, shifts relocated by CO-RE."),
    Macro("BPF_CORE_READ_BITFIELD_PROBED", Family.BITFIELD, ("s", "field"), Value.INT,
          Memory.PROBE,
          (ReloKind.FIELD_BYTE_SIZE, ReloKind.FIELD_BYTE_OFFSET, ReloKind.FIELD_LSHIFT_U64,
           ReloKind.FIELD_SIGNED, ReloKind.FIELD_RSHIFT_U64, ReloKind.FIELD_RSHIFT_U64),
          doc="Reads a bitfield with `bpf_probe_read_kernel()`, its offset, size and shifts "
              "relocated by CO-RE."),
    Macro("BPF_CORE_WRITE_BITFIELD", Family.BITFIELD, ("s", "field", "new_val"), Value.NONE,
          Memory.STORE,
          (ReloKind.FIELD_BYTE_OFFSET, ReloKind.FIELD_BYTE_SIZE, ReloKind.FIELD_LSHIFT_U64,
           ReloKind.FIELD_RSHIFT_U64),
          doc="Writes a bitfield, relocated by CO-RE."),
    _field("bpf_core_field_exists", ReloKind.FIELD_EXISTS,
           "1 when the kernel has the field (`field_exists` relocation), else 0: code under it "
           "only runs where it exists."),
    _field("bpf_core_field_size", ReloKind.FIELD_BYTE_SIZE,
           "The field's size in the kernel (`byte_sz` relocation)."),
    _field("bpf_core_field_offset", ReloKind.FIELD_BYTE_OFFSET,
           "The field's byte offset in the kernel (`byte_off` relocation)."),
    _type("bpf_core_type_exists", ReloKind.TYPE_EXISTS,
          "1 when the kernel has a compatible type (`type_exists`)."),
    _type("bpf_core_type_size", ReloKind.TYPE_SIZE,
          "The type's size in the kernel (`type_size`)."),
    _type("bpf_core_type_matches", ReloKind.TYPE_MATCHES,
          "1 when the kernel's type matches the program's (`type_matches`)."),
    _type("bpf_core_type_id_local", ReloKind.TYPE_ID_LOCAL,
          "The type's id in the program's BTF (`local_type_id`)."),
    _type("bpf_core_type_id_kernel", ReloKind.TYPE_ID_TARGET,
          "The type's id in the kernel's BTF (`target_type_id`)."),
    _enum("bpf_core_enum_value_exists", ReloKind.ENUMVAL_EXISTS,
          "1 when the kernel's enum has the enumerator (`enumval_exists`)."),
    _enum("bpf_core_enum_value", ReloKind.ENUMVAL_VALUE,
          "The enumerator's value in the kernel (`enumval_value`)."),
    Macro("bpf_core_cast", Family.CAST, ("ptr", "type"), Value.POINTER,
          kinds=(ReloKind.TYPE_ID_TARGET,),
          doc="`ptr` as a `type *` the verifier trusts for direct reads (a kfunc)."),
    _builtin("__builtin_preserve_access_index", ("expr",), None),
    _builtin("__builtin_preserve_field_info", ("expr", "kind"), FIELD_INFO_KIND),
    _builtin("__builtin_preserve_type_info", ("expr", "kind"), TYPE_INFO_KIND),
    _builtin("__builtin_preserve_enum_value", ("expr", "kind"), ENUM_VALUE_KIND),
    _builtin("__builtin_btf_type_id", ("expr", "kind"), TYPE_ID_KIND),
    _program("BPF_PROG", ("name", "args..."), ProgramArgs.CTX,
             "A tracing program (fentry, fexit, tp_btf, lsm...) whose typed arguments come from "
             "the `ctx` array; `ctx` is `unsigned long long *`."),
    _program("BPF_PROG2", ("name", "type", "arg", "..."), ProgramArgs.CTX_PAIRS,
             "Like `BPF_PROG` with (type, name) pairs, for arguments bigger than 8 bytes."),
    _program("BPF_KPROBE", ("name", "args..."), ProgramArgs.KPROBE,
             "A kprobe whose arguments are read from `struct pt_regs *ctx`."),
    _program("BPF_KRETPROBE", ("name", "ret"), ProgramArgs.KRETPROBE,
             "A kretprobe: `ret` is the return value."),
    _program("BPF_UPROBE", ("name", "args..."), ProgramArgs.KPROBE,
             "A uprobe; arguments as for `BPF_KPROBE`."),
    _program("BPF_URETPROBE", ("name", "ret"), ProgramArgs.KRETPROBE,
             "A uretprobe: `ret` is the return value."),
    _program("BPF_KSYSCALL", ("name", "args..."), ProgramArgs.KSYSCALL,
             "A kprobe on a system call: the arguments are the system call's."),
    Macro("BPF_KPROBE_SYSCALL", Family.PROGRAM, ("name", "args..."), Value.NONE,
          program_args=ProgramArgs.KSYSCALL),
    _program("BPF_USDT", ("name", "args..."), ProgramArgs.USDT,
             "A USDT probe with its arguments."),
)

# -- lookups ---------------------------------------------------------------------------------

#: every intrinsic by name
MACROS: dict[str, Macro] = {m.name: m for m in _TABLE}


def names(*families: Family) -> frozenset[str]:
    """The names of the intrinsics of these families."""
    return frozenset(m.name for m in _TABLE if m.family in families)


#: every name the analyser interprets itself (never expanded from a user definition)
ALL_INTRINSICS = frozenset(MACROS)
#: the program definition macros (``bpf_tracing.h``, ``usdt.bpf.h``)
PROGRAM_MACROS = names(Family.PROGRAM)
#: the CO-RE macros and read functions of ``bpf_core_read.h``
CORE_INTRINSICS = ALL_INTRINSICS - PROGRAM_MACROS - names(Family.BUILTIN)
#: the hop-by-hop readers
HOP_READS = names(Family.CORE_HOPS, Family.PROBE_HOPS)


_CORE_NAME = re.compile(r"\b(?:" + "|".join(sorted(
    CORE_INTRINSICS | names(Family.BUILTIN), key=len, reverse=True)) + r")\b")


def uses_core(text: str) -> bool:
    """Whether ``text`` names a CO-RE macro or builtin."""
    return _CORE_NAME.search(text) is not None
