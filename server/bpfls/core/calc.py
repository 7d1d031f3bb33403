"""Relocation values (``bpf_core_calc_relo`` and its field/type/enum helpers).

All values are what libbpf computes, as unsigned 64-bit numbers (``__u64``): a 32-bit ENUM
value is read as ``s32`` and sign-extended whatever the enum's signedness, an ENUM64 value is
``hi:lo``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfls.btf import Btf, Kind
from bpfls.btf.model import INT_SIGNED
from bpfls.core.relo import Relocation, ReloKind
from bpfls.core.spec import Spec, SpecError, parse_spec, resolve_size, skip_mods_and_typedefs

U64 = (1 << 64) - 1
U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class FieldLayout:
    """Where a field is and how libbpf would load it.

    ``byte_offset``/``byte_size``: the load unit (for a bitfield: the aligned unit covering its
    bits, so ``byte_offset`` is what ``byte_off`` relocates to); ``bit_offset``/``bit_size``:
    the field's own bits from the root; ``lshift``/``rshift``: the shifts that extract it from
    a u64 holding the unit (little endian). ``array_element``: the access ends in ``[i]``
    (only ``byte_off`` and ``byte_sz`` apply then; shifts and ``signed`` are ``None``).
    ``type_id``: the field's type after stripping modifiers and typedefs.
    """

    byte_offset: int
    byte_size: int
    bit_offset: int
    bit_size: int
    bitfield: bool
    signed: bool | None
    lshift: int | None
    rshift: int | None
    type_id: int
    array_element: bool = False


def field_layout(spec: Spec, big_endian: bool = False) -> FieldLayout:
    """The layout of the field a (local or target) field spec ends at.

    Raises :class:`SpecError` (-E2BIG) for a bitfield that no load of at most 8 bytes covers.
    """
    btf = spec.btf
    acc = spec.acc[-1]
    if acc.name is None:  # a[n]: the element
        sz = resolve_size(btf, acc.type_id)
        return FieldLayout(spec.bit_offset // 8, sz, spec.bit_offset, sz * 8, False, None, None,
                           None, acc.type_id, True)
    t = btf[acc.type_id]
    m = t.member_at(acc.idx)
    ftid = skip_mods_and_typedefs(btf, m.type_id)
    mt = btf[ftid]
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        if mt.kind not in (Kind.INT, Kind.ENUM, Kind.ENUM64):
            raise SpecError(f"bitfield '{m.name}' has a type without a size")
        byte_sz = mt.size
        if byte_sz <= 0:
            raise SpecError(f"bitfield '{m.name}' has a zero-sized type")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise SpecError(f"bitfield '{m.name}' ({bit_sz} bits at bit {bit_off}) cannot "
                                "be read with one load of at most 8 bytes", "E2BIG")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = resolve_size(btf, ftid)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    signed = ((mt.kind in (Kind.ENUM, Kind.ENUM64) and mt.kflag)
              or (mt.kind == Kind.INT and bool(mt.int_encoding & INT_SIGNED)))
    if big_endian:
        lshift = (8 - byte_sz) * 8 + (bit_off - byte_off * 8)
    else:
        lshift = 64 - (bit_off + bit_sz - byte_off * 8)
    # libbpf computes the shifts in u32 arithmetic: fields wider than 8 bytes wrap around
    return FieldLayout(byte_off, byte_sz, bit_off, bit_sz, bitfield, signed, lshift & U32,
                       (64 - bit_sz) & U32, ftid)


@dataclass(frozen=True)
class FieldValue:
    value: int
    mem_size: int  # field size for load/store size adjustment (0 when not applicable)
    type_id: int  # field type for that adjustment (0 when not applicable)
    validate: bool
    layout: FieldLayout | None


def calc_field(kind: ReloKind, spec: Spec | None, big_endian: bool = False) -> FieldValue | None:
    """``bpf_core_calc_field_relo``; ``None`` means "poison" (no target)."""
    if kind == ReloKind.FIELD_EXISTS:
        return FieldValue(1 if spec is not None else 0, 0, 0, True, None)
    if spec is None:
        return None
    lay = field_layout(spec, big_endian)
    if lay.array_element:
        if kind == ReloKind.FIELD_BYTE_OFFSET:
            return FieldValue(lay.byte_offset, lay.byte_size, lay.type_id, True, lay)
        if kind == ReloKind.FIELD_BYTE_SIZE:
            return FieldValue(lay.byte_size, 0, 0, True, lay)
        raise SpecError(f"relocation {kind} can't be applied to an array element access")
    validate = not lay.bitfield
    if kind == ReloKind.FIELD_BYTE_OFFSET:
        if lay.bitfield:
            return FieldValue(lay.byte_offset, 0, 0, validate, lay)
        return FieldValue(lay.byte_offset, lay.byte_size, lay.type_id, validate, lay)
    if kind == ReloKind.FIELD_BYTE_SIZE:
        return FieldValue(lay.byte_size, 0, 0, validate, lay)
    if kind == ReloKind.FIELD_SIGNED:
        return FieldValue(int(bool(lay.signed)), 0, 0, True, lay)
    if kind == ReloKind.FIELD_LSHIFT_U64:
        assert lay.lshift is not None
        return FieldValue(lay.lshift, 0, 0, validate, lay)
    if kind == ReloKind.FIELD_RSHIFT_U64:
        assert lay.rshift is not None
        return FieldValue(lay.rshift, 0, 0, True, lay)
    raise SpecError(f"unrecognized CO-RE relocation {kind}")  # pragma: no cover


def calc_type(kind: ReloKind, spec: Spec | None) -> int:
    """``bpf_core_calc_type_relo``: 0 when there is no target."""
    if spec is None:
        return 0
    if kind == ReloKind.TYPE_ID_TARGET:
        return spec.root_type_id
    if kind in (ReloKind.TYPE_EXISTS, ReloKind.TYPE_MATCHES):
        return 1
    if kind == ReloKind.TYPE_SIZE:
        return resolve_size(spec.btf, spec.root_type_id)
    if kind == ReloKind.TYPE_ID_LOCAL:
        return spec.root_type_id
    raise SpecError(f"unrecognized CO-RE relocation {kind}")  # pragma: no cover


def enum_value_u64(spec: Spec) -> int:
    """The enumerator value as libbpf reads it: ENUM as s32 sign-extended, ENUM64 hi:lo."""
    acc = spec.acc[0]
    t = spec.btf[acc.type_id]
    v = t.values[acc.idx].value
    if t.kind == Kind.ENUM:
        v &= 0xFFFFFFFF
        if v & 0x80000000:
            v -= 1 << 32
    return v & U64


def calc_enumval(kind: ReloKind, spec: Spec | None) -> int | None:
    """``bpf_core_calc_enumval_relo``; ``None`` means "poison"."""
    if kind == ReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        return None
    return enum_value_u64(spec)


@dataclass
class ReloResult:
    """``struct bpf_core_relo_res``."""

    orig_val: int = 0
    new_val: int = 0
    poison: bool = False
    validate: bool = True
    fail_memsz_adjust: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0
    local_layout: FieldLayout | None = None
    target_layout: FieldLayout | None = None


def calc_relo(kind: ReloKind, local: Spec, targ: Spec | None,
              big_endian: bool = False) -> ReloResult:
    """``bpf_core_calc_relo``: local and target values, poison and the size-adjustment verdict.

    Raises :class:`SpecError` for the hard failures (bitfield over 8 bytes, a non-offset/size
    kind on an array element, a type without a size).
    """
    res = ReloResult()
    if kind.is_field:
        lv = calc_field(kind, local, big_endian)
        assert lv is not None
        res.orig_val, res.orig_sz, res.orig_type_id = lv.value, lv.mem_size, lv.type_id
        res.validate = lv.validate
        res.local_layout = lv.layout
        tv = calc_field(kind, targ, big_endian)
        if tv is None:
            res.poison = True
            return res
        res.new_val, res.new_sz, res.new_type_id = tv.value, tv.mem_size, tv.type_id
        res.target_layout = tv.layout
        if res.orig_sz != res.new_sz:
            assert targ is not None
            ot = local.btf[res.orig_type_id]
            nt = targ.btf[res.new_type_id]
            if ot.kind == Kind.PTR and nt.kind == Kind.PTR:
                return res
            if (ot.kind == Kind.INT and nt.kind == Kind.INT
                    and ot.int_encoding != INT_SIGNED and nt.int_encoding != INT_SIGNED):
                return res
            res.fail_memsz_adjust = True
        return res
    if kind.is_type:
        res.orig_val = calc_type(kind, local)
        res.new_val = calc_type(kind, targ)
        res.validate = kind != ReloKind.TYPE_ID_TARGET
        return res
    ov = calc_enumval(kind, local)
    assert ov is not None
    res.orig_val = ov
    nv = calc_enumval(kind, targ)
    if nv is None:
        res.poison = True
    else:
        res.new_val = nv
    return res


def field_info(btf: Btf, root_id: int, access: tuple[int, ...] | list[int]) -> FieldLayout:
    """Local layout of the field that ``access`` (raw indices from ``root_id``) reaches:
    offset, size, bits, shifts and the field's type. Raises :class:`SpecError` for an access
    libbpf could not parse."""
    spec = parse_spec(Relocation(ReloKind.FIELD_BYTE_OFFSET, btf, root_id, tuple(access)))
    return field_layout(spec, btf.byte_order == "big")
