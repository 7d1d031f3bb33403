"""Resolutions shared between objects (:mod:`bpfls.core.shapes`): two objects whose local types
have the same shape get the same outcome on a kernel, told of their own relocation; any
difference libbpf could read keeps them apart."""

from __future__ import annotations

import pytest

from bpfls.btf import Btf, load_bytes
from bpfls.core import CoreResolver, Relocation, ReloKind
from bpfls.core.shapes import local_shapes, relocation_shape
from bpfls.core.spec import parse_spec

from btfbuild import BtfBuilder

K = ReloKind


def kernel() -> Btf:
    b = BtfBuilder()
    i32 = b.int_("int", 4, signed=True)
    i64 = b.int_("long", 8, signed=True)
    b.struct("foo", 24, [("a", i32, 0, 0), ("pad", i32, 32, 0), ("b", i64, 64, 0),
                         ("c", i64, 128, 0)])
    return load_bytes(b.build())


def local(*, extra: int = 0, b_type: str = "long", b_offset: int = 64,
          ptr_to: str | None = None) -> tuple[Btf, int]:
    """A local BTF with ``struct foo { int a; <b_type> b; }`` after ``extra`` unrelated types
    (so its ids differ); its root id."""
    b = BtfBuilder()
    for i in range(extra):
        b.int_(f"unrelated{i}", 4)
    i32 = b.int_("int", 4, signed=True)
    bt = b.int_(b_type, 8 if b_type == "long" else 4, signed=True)
    if ptr_to is not None:
        bt = b.ptr(b.struct(ptr_to, 4, [("x", i32, 0, 0)]))
    root = b.struct("foo", 16, [("a", i32, 0, 0), ("b", bt, b_offset, 0)])
    return load_bytes(b.build()), root


def shape(btf: Btf, root: int, access: tuple[int, ...], kind: ReloKind = K.FIELD_BYTE_OFFSET):
    relo = Relocation(kind, btf, root, access)
    return relocation_shape(relo, parse_spec(relo), False)[0]


def test_the_same_types_under_other_ids_have_one_shape() -> None:
    (a, ra), (b, rb) = local(), local(extra=5)
    assert ra != rb
    assert shape(a, ra, (0, 1)) == shape(b, rb, (0, 1)) is not None
    assert shape(a, ra, (0, 1)) != shape(a, ra, (0, 0))  # another member
    assert shape(a, ra, (0, 1)) != shape(a, ra, (0, 1), K.FIELD_BYTE_SIZE)


@pytest.mark.parametrize("other", [
    {"b_type": "int"},  # the field's size and type: the size check and the local value
    {"b_offset": 32},  # where it lies locally: the value clang emitted
    {"ptr_to": "bar"},  # pointers: the pointee's name
])
def test_what_libbpf_reads_keeps_shapes_apart(other: dict) -> None:
    (a, ra), (b, rb) = local(), local(**other)
    assert shape(a, ra, (0, 1)) != shape(b, rb, (0, 1))


def test_a_pointee_is_read_by_name_only() -> None:
    """Behind a pointer, a named struct stands by its name: its members are not read."""
    b1, b2 = BtfBuilder(), BtfBuilder()
    for b, members in ((b1, 1), (b2, 3)):
        i32 = b.int_("int", 4, signed=True)
        bar = b.struct("bar", 4 * members, [(f"m{i}", i32, 32 * i, 0) for i in range(members)])
        b.struct("foo", 8, [("p", b.ptr(bar), 0, 0)])
    x, y = load_bytes(b1.build()), load_bytes(b2.build())
    assert local_shapes(x).shallow(3) == local_shapes(y).shallow(3)
    assert local_shapes(x).deep(2) != local_shapes(y).deep(2)


def test_a_shared_resolution_is_told_of_its_own_relocation() -> None:
    target = kernel()
    shared: dict = {}
    (a, ra), (b, rb) = local(), local(extra=5)
    ra_res = CoreResolver(target, memo={}, shared=shared).resolve(
        Relocation(K.FIELD_BYTE_OFFSET, a, ra, (0, 1)))
    assert len(shared) == 1
    relo = Relocation(K.FIELD_BYTE_OFFSET, b, rb, (0, 1))
    got = CoreResolver(target, memo={}, shared=shared).resolve(relo)
    alone = CoreResolver(target).resolve(relo)
    assert len(shared) == 1  # reused, not resolved again
    assert got.relo is relo
    assert got.local_spec_log == alone.local_spec_log == (
        f"<byte_off> [{rb}] struct foo.b (0:1 @ offset 8)")
    assert got.local_spec_log != ra_res.local_spec_log
    assert got.local_field == alone.local_field
    assert (got.status, got.target_value, got.local_value, got.spec, got.reason) == (
        alone.status, alone.target_value, alone.local_value, alone.spec, alone.reason)


def test_a_different_shape_is_resolved_on_its_own() -> None:
    target = kernel()
    shared: dict = {}
    (a, ra), (b, rb) = local(), local(b_type="int")
    CoreResolver(target, memo={}, shared=shared).resolve(
        Relocation(K.FIELD_BYTE_SIZE, a, ra, (0, 1)))
    got = CoreResolver(target, memo={}, shared=shared).resolve(
        Relocation(K.FIELD_BYTE_SIZE, b, rb, (0, 1)))
    assert len(shared) == 2
    assert (got.local_value, got.target_value) == (4, 8)


def test_type_matches_is_never_shared() -> None:
    a, ra = local()
    assert shape(a, ra, (0,), K.TYPE_MATCHES) is None
    assert shape(a, ra, (0,), K.TYPE_EXISTS) is not None
