"""Access specs: parsing (``bpf_core_parse_spec``) and formatting (``bpf_core_format_spec``).

A relocation's raw access string (``"0:1:2"``) becomes a :class:`Spec`: the *raw* spec keeps
every index, the high-level accessors keep only the root element, named members and array
indices (anonymous members contribute their offset only). ``bit_offset`` accumulates through
member offsets (``kind_flag`` aware) and array strides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfls.btf import Btf, BtfError, Kind
from bpfls.btf.btf import MAX_RESOLVE_DEPTH
from bpfls.btf.kinds import MODIFIER_KINDS
from bpfls.core.relo import Relocation, ReloKind

#: ``BPF_CORE_SPEC_MAX_LEN``: raw specs longer than this are -E2BIG.
SPEC_MAX_LEN = 64

_INT_MAX = 0x7FFFFFFF


class SpecError(Exception):
    """A relocation libbpf refuses outright (a hard load failure, before the verifier).

    ``code`` is the errno name libbpf returns (``EINVAL``, ``E2BIG``, ``EOPNOTSUPP``).
    """

    def __init__(self, message: str, code: str = "EINVAL") -> None:
        self.message = message
        self.code = code
        super().__init__(message)


@dataclass
class Accessor:
    """One high-level step. ``type_id``: for a named member, the composite that declares it;
    for the root and array elements, the (modifier- and typedef-stripped) element type; for an
    enumerator, the enum."""

    type_id: int
    idx: int
    name: str | None = None


@dataclass
class Spec:
    """``struct bpf_core_spec``: a local access, or how far a target candidate matched it."""

    btf: Btf
    root_type_id: int
    kind: ReloKind
    raw: list[int] = field(default_factory=list)
    acc: list[Accessor] = field(default_factory=list)
    bit_offset: int = 0

    def copy(self) -> Spec:
        return Spec(self.btf, self.root_type_id, self.kind, list(self.raw),
                    [Accessor(a.type_id, a.idx, a.name) for a in self.acc], self.bit_offset)


# -- type helpers shared by the core modules ------------------------------------------------

def skip_mods_and_typedefs(btf: Btf, type_id: int) -> int:
    """``skip_mods_and_typedefs``: the id behind const/volatile/restrict/type_tag/typedef.

    Raises :class:`SpecError` for ids out of range or chains that are too long.
    """
    try:
        for _ in range(MAX_RESOLVE_DEPTH + 1):
            t = btf[type_id]
            k = t.kind
            if k == Kind.TYPEDEF or k in MODIFIER_KINDS:
                type_id = t.type_id
            else:
                return type_id
    except BtfError as e:
        raise SpecError(f"bad type reference: {e.message}") from None
    raise SpecError(f"type chain at [{type_id}] is too deep or cyclic")


def resolve_size(btf: Btf, type_id: int) -> int:
    """``btf__resolve_size``, with failures as :class:`SpecError`."""
    try:
        return btf.size_of(type_id)
    except BtfError as e:
        raise SpecError(f"cannot size type [{type_id}]: {e.message}") from None


KIND_STR = {Kind.UNKN: "void", Kind.INT: "int", Kind.PTR: "ptr", Kind.ARRAY: "array",
            Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.FWD: "fwd",
            Kind.TYPEDEF: "typedef", Kind.VOLATILE: "volatile", Kind.CONST: "const",
            Kind.RESTRICT: "restrict", Kind.FUNC: "func", Kind.FUNC_PROTO: "func_proto",
            Kind.VAR: "var", Kind.DATASEC: "datasec", Kind.FLOAT: "float",
            Kind.DECL_TAG: "decl_tag", Kind.TYPE_TAG: "type_tag", Kind.ENUM64: "enum64"}


# -- parsing ---------------------------------------------------------------------------------

def parse_access_str(text: str, kind: ReloKind | None = None) -> tuple[int, ...]:
    """Parse a raw access string the way ``bpf_core_parse_spec`` does.

    Type-based kinds need exactly ``"0"``. Otherwise: non-negative decimal integers separated
    by single colons (``sscanf("%d")`` also takes leading blanks and ``+``, and a trailing
    colon is ignored). Raises :class:`SpecError` for what libbpf rejects; values it would
    misread (negative, beyond ``INT_MAX``) are rejected too.
    """
    if not text or text[0] == ":":
        raise SpecError(f"malformed access string {text!r}")
    if kind is not None and kind.is_type:
        if text != "0":
            raise SpecError(f"access string of a type relocation must be \"0\", not {text!r}")
        return (0,)
    out: list[int] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == ":":
            i += 1
        j = i
        while j < n and text[j] in " \t\n\v\f\r":
            j += 1
        if j < n and text[j] in "+-":
            if text[j] == "-":
                raise SpecError(f"negative index in access string {text!r}")
            j += 1
        k = j
        while k < n and text[k].isdigit() and text[k].isascii():
            k += 1
        if k == j:
            raise SpecError(f"malformed access string {text!r}")
        v = int(text[j:k])
        if v > _INT_MAX:
            raise SpecError(f"index {v} out of range in access string {text!r}")
        out.append(v)
        if len(out) > 4 * SPEC_MAX_LEN:  # parse_spec reports -E2BIG past 64
            raise SpecError(f"access string {text[:40]!r}... is far too long", "E2BIG")
        i = k
    return tuple(out)


def is_flex_arr(btf: Btf, prev: Accessor, nelems: int) -> bool:
    """``is_flex_arr``: zero elements, reached by a named member that is the last member of
    its immediately enclosing composite."""
    if prev.name is None or nelems > 0:
        return False
    return prev.idx == btf[prev.type_id].vlen - 1


def parse_spec(relo: Relocation) -> Spec:
    """``bpf_core_parse_spec``: the local spec of a relocation, or :class:`SpecError`."""
    try:
        return _parse_spec(relo)
    except BtfError as e:
        raise SpecError(f"malformed local BTF: {e.message}") from None
    except (TypeError, IndexError, ValueError) as e:
        raise SpecError(f"malformed local BTF: {e}") from None


def _parse_spec(relo: Relocation) -> Spec:
    btf, kind, access = relo.local, relo.kind, relo.access
    spec = Spec(btf, relo.type_id, kind)
    try:
        btf[relo.type_id]
    except BtfError as e:
        raise SpecError(f"root type: {e.message}") from None
    if not access:
        raise SpecError("empty or malformed access string")
    if kind.is_type:
        if access != (0,):
            raise SpecError(f"access string of a type relocation must be \"0\", not "
                            f"\"{relo.access_str}\"")
        return spec
    if len(access) > SPEC_MAX_LEN:
        raise SpecError(f"access string longer than {SPEC_MAX_LEN} indices", "E2BIG")
    spec.raw = list(access)
    tid = skip_mods_and_typedefs(btf, relo.type_id)
    t = btf[tid]
    idx = access[0]
    root = Accessor(tid, idx)
    spec.acc.append(root)

    if kind.is_enumval:
        if t.kind not in (Kind.ENUM, Kind.ENUM64):
            raise SpecError(f"enum value relocation on {KIND_STR[t.kind]} [{tid}], not an enum")
        if len(access) > 1:
            raise SpecError("enum value relocation with more than one index")
        if idx >= t.vlen:
            raise SpecError(f"enumerator index {idx} out of range ({t.vlen} enumerators)")
        root.name = t.values[idx].name
        return spec

    if not kind.is_field:  # pragma: no cover - ReloKind has no other kinds
        raise SpecError(f"unsupported relocation kind {int(kind)}")
    spec.bit_offset = idx * resolve_size(btf, tid) * 8
    for i in range(1, len(access)):
        tid = skip_mods_and_typedefs(btf, tid)
        t = btf[tid]
        idx = access[i]
        if t.kind in (Kind.STRUCT, Kind.UNION):
            if idx >= t.vlen:
                raise SpecError(f"member index {idx} out of range: {KIND_STR[t.kind]} "
                                f"{t.name or '<anon>'} [{tid}] has {t.vlen} members")
            m = t.member_at(idx)
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.acc.append(Accessor(tid, idx, m.name))
            tid = m.type_id
        elif t.kind == Kind.ARRAY:
            a = t.array
            elem = skip_mods_and_typedefs(btf, a.type_id)
            flex = is_flex_arr(btf, spec.acc[-1], a.nelems)
            if not flex and idx >= a.nelems:
                raise SpecError(f"array index {idx} out of bounds ({a.nelems} elements)")
            spec.acc.append(Accessor(elem, idx))
            spec.bit_offset += idx * resolve_size(btf, elem) * 8
            tid = elem
        else:
            raise SpecError(f"access index {i} ({idx}) goes into {KIND_STR.get(t.kind)} [{tid}], "
                            "which is neither a struct, a union nor an array")
    return spec


# -- formatting ------------------------------------------------------------------------------

def _root_prefix(spec: Spec) -> str:
    btf = spec.btf
    t = btf[spec.root_type_id]
    return f"{KIND_STR.get(t.kind, 'unknown')} {t.name or '<anon>'}"


def _enum_suffix(spec: Spec, with_value: bool) -> str:
    btf = spec.btf
    t = btf[skip_mods_and_typedefs(btf, spec.root_type_id)]
    idx = spec.raw[0] if spec.raw else 0  # libbpf prints raw_spec[0], zeroed when unmatched
    if t.kind not in (Kind.ENUM, Kind.ENUM64) or idx >= t.vlen:
        return ""
    v = t.values[idx]
    if not with_value:
        return f"::{v.name}"
    return f"::{v.name} = {v.value}"


def _field_path(spec: Spec) -> str:
    out = []
    for i, a in enumerate(spec.acc):
        if a.name is not None:
            out.append(f".{a.name}")
        elif i > 0 or a.idx > 0:
            out.append(f"[{a.idx}]")
    return "".join(out)


def format_spec_log(spec: Spec) -> str:
    """Exactly libbpf's ``bpf_core_format_spec``:
    ``<byte_off> [7] struct task_struct.real_parent (0:86 @ offset 2432)``."""
    head = f"<{spec.kind}> [{spec.root_type_id}] {_root_prefix(spec)}"
    if spec.kind.is_type:
        return head
    if spec.kind.is_enumval:
        return head + _enum_suffix(spec, True)
    raw = ":".join(str(i) for i in spec.raw)
    bo = spec.bit_offset
    off = f"{bo // 8}.{bo % 8}" if bo % 8 else f"{bo // 8}"
    return f"{head}{_field_path(spec)} ({raw} @ offset {off})"


def format_spec_human(spec: Spec) -> str:
    """The short form used in messages: ``struct task_struct___o.state``,
    ``struct syscall_trace_enter.args[2]``, ``enum bpf_func_id::BPF_FUNC_ringbuf_reserve``,
    ``struct bpf_ringbuf``."""
    head = _root_prefix(spec)
    if spec.kind.is_type:
        return head
    if spec.kind.is_enumval:
        return head + _enum_suffix(spec, False)
    return head + _field_path(spec)


def format_spec(relo: Relocation) -> str:
    """The human spec of a relocation (see :func:`format_spec_human`); for a relocation libbpf
    cannot parse, the root and the raw access string."""
    try:
        return format_spec_human(parse_spec(relo))
    except (SpecError, BtfError, TypeError, IndexError, ValueError):
        try:
            t = relo.local[relo.type_id]
            root = f"{KIND_STR.get(t.kind, 'unknown')} {t.name or '<anon>'}"
        except (BtfError, TypeError, IndexError, ValueError):
            root = f"[{relo.type_id}]"
        return f"{root} + {relo.access_str or '<?>'}"


@dataclass(frozen=True)
class SpecStep:
    """One named or indexed step of an access: ``name`` for a member (``None`` for an array
    index), ``index`` the member or element index, ``type_id`` the composite that declares the
    member (for an index: the element type)."""

    name: str | None
    index: int
    type_id: int

    def __str__(self) -> str:
        return self.name if self.name is not None else f"[{self.index}]"


def spec_path(relo: Relocation) -> list[SpecStep]:
    """The high-level steps of a field or enum relocation after the root element
    (``struct sock.__sk_common.skc_daddr`` → ``[__sk_common, skc_daddr]``). A non-zero root
    index (``f[1].a``) comes first as an index step. Type relocations give ``[]``."""
    spec = parse_spec(relo)
    return [SpecStep(a.name, a.idx, a.type_id) for i, a in enumerate(spec.acc)
            if not (i == 0 and relo.kind.is_field and a.idx == 0)]
