"""``bpfls btf dump --format raw|bpftool-json`` must print exactly what bpftool prints.

The oracle is the installed ``bpftool`` (Debian bookworm: v7.1.0, libbpf 1.1): its stdout is
compared byte for byte on the sample kernels, on split module BTF, on a few of the shared full
kernels and on hand-built blobs covering every kind and every printing quirk.
"""

from __future__ import annotations

import gzip
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from bpfls.btf import Btf, load, load_bytes
from bpfls.btf.dump_json import dump_bpftool_bytes, dump_bpftool_json, dump_bpftool_raw

from btfbuild import BtfBuilder, sample_blob
from conftest import sample_kernels

KERNELS = sample_kernels()
CLI = [sys.executable, "-m", "bpfls"]

#: a few of the 16 shared full kernels, chosen for kind coverage: the oldest (5.4), the first
#: with ENUM64 (6.6), DECL_TAG (6.11), TYPE_TAG (6.18) and the newest header layout (7.1)
SHARED_KERNELS = ["linux-5.4", "linux-6.6", "linux-6.11", "linux-6.18", "linux-7.1"]

#: (split file, base file) under ../shared/btf/split, as its README pairs them
SHARED_SPLITS = [
    ("linux-5.18/btf_testmod.btf", "../../kernels/linux-5.18.btf.gz"),
    ("linux-5.19-rc3/xt_nat.btf", "../../kernels/linux-5.19-rc3.btf.gz"),
    ("linux-7.1-distilled/btf_testmod.btf", "btf_testmod.btf.base"),
    ("linux-6.15.1-tinyconfig/openvswitch.btf", "vmlinux.btf.gz"),
    ("linux-6.15.1-tinyconfig/openvswitch.ko.xz", "vmlinux.btf.gz"),
    ("linux-6.15.1-tinyconfig/veth.ko.xz", "vmlinux.btf.gz"),
    ("linux-6.15.1-tinyconfig/vport-geneve.ko.xz", "vmlinux.btf.gz"),
]


class Builder(BtfBuilder):
    """The shared test builder, plus raw-byte names and records with arbitrary name offsets."""

    def s(self, text: str | bytes) -> int:  # type: ignore[override]
        if isinstance(text, str):
            return super().s(text)
        off = self.str_start + len(self.strs)
        self.strs += text + b"\0"
        return off

    def rec(self, name_off: int, kind: int, vlen: int = 0, kflag: bool = False,
            word2: int = 0, extra: tuple[int, ...] = ()) -> int:
        """A record with a literal name offset (out of range, mid-string, ...)."""
        info = (int(kflag) << 31) | (kind << 24) | vlen
        self.words += [name_off, info, word2 & 0xFFFFFFFF, *[w & 0xFFFFFFFF for w in extra]]
        tid = self.next_id
        self.next_id += 1
        return tid


# -- helpers ----------------------------------------------------------------------------------

def _bpftool_out(bpftool: str, path: Path, *, json: bool, base: Path | None = None) -> bytes:
    cmd = [bpftool]
    if json:
        cmd.append("-j")
    if base is not None:
        cmd += ["-B", str(base)]
    cmd += ["btf", "dump", "file", str(path), "format", "raw"]
    return subprocess.run(cmd, check=True, capture_output=True).stdout


def _first_difference(mine: bytes, ref: bytes) -> str:
    for i, (x, y) in enumerate(zip(mine, ref, strict=False)):
        if x != y:
            lo = max(0, i - 160)
            return f"at byte {i}:\n bpfls:   {mine[lo:i + 80]!r}\n bpftool: {ref[lo:i + 80]!r}"
    return f"lengths differ: bpfls {len(mine)}, bpftool {len(ref)}"


def _assert_same(mine: bytes, ref: bytes) -> None:
    if mine != ref:
        pytest.fail("dump differs from bpftool " + _first_difference(mine, ref))


def _check_both(bpftool: str, btf: Btf, path: Path, base: Path | None = None) -> None:
    for json in (False, True):
        _assert_same(dump_bpftool_bytes(btf, json=json),
                     _bpftool_out(bpftool, path, json=json, base=base))


def _cli_dump(path: Path, fmt: str, base: Path | None = None) -> bytes:
    cmd = [*CLI, "btf", "dump", str(path), "--format", fmt]
    if base is not None:
        cmd += ["--base", str(base)]
    r = subprocess.run(cmd, capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert r.stderr == b""
    return r.stdout


def _unpack(src: Path, dest_dir: Path) -> Path:
    """An uncompressed copy of ``src`` for bpftool (which reads neither gzip nor xz)."""
    if src.suffix not in (".gz", ".xz"):
        return src
    out = dest_dir / (src.parent.name + "-" + src.name[: -len(src.suffix)])
    if not out.exists():
        data = src.read_bytes()
        out.write_bytes(gzip.decompress(data) if src.suffix == ".gz" else lzma.decompress(data))
    return out


# -- sample kernels (bundled) -----------------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.parametrize("path", KERNELS, ids=[p.name for p in KERNELS])
def test_sample_kernel_json_via_cli(path: Path, bpftool: str, raw_sample) -> None:
    raw = raw_sample(path)
    _assert_same(_cli_dump(path, "bpftool-json"), _bpftool_out(bpftool, raw, json=True))


@pytest.mark.oracle
@pytest.mark.parametrize("path", KERNELS, ids=[p.name for p in KERNELS])
def test_sample_kernel_raw(path: Path, bpftool: str, raw_sample) -> None:
    raw = raw_sample(path)
    _assert_same(dump_bpftool_bytes(load(path)), _bpftool_out(bpftool, raw, json=False))


@pytest.mark.oracle
def test_sample_kernel_raw_via_cli(bpftool: str, raw_sample) -> None:
    if not KERNELS:
        pytest.skip("no sample-btf/*.btf.xz")
    path = KERNELS[0]
    _assert_same(_cli_dump(path, "raw"), _bpftool_out(bpftool, raw_sample(path), json=False))


# -- shared kernels and split BTF -------------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.shared
@pytest.mark.parametrize("name", SHARED_KERNELS)
def test_shared_kernel(name: str, bpftool: str, shared_btf: Path, tmp_path_factory) -> None:
    src = shared_btf / "kernels" / f"{name}.btf.gz"
    if not src.exists():
        pytest.skip(f"{src} is absent")
    raw = _unpack(src, tmp_path_factory.mktemp("kernels"))
    _check_both(bpftool, load(src), raw)


@pytest.mark.oracle
@pytest.mark.shared
@pytest.mark.parametrize(("split", "base"), SHARED_SPLITS, ids=[s for s, _ in SHARED_SPLITS])
def test_shared_split(split: str, base: str, bpftool: str, shared_btf: Path,
                      tmp_path_factory) -> None:
    split_src = shared_btf / "split" / split
    base_src = (split_src.parent / base).resolve()
    if not split_src.exists() or not base_src.exists():
        pytest.skip(f"{split_src} or its base is absent")
    d = tmp_path_factory.mktemp("split")
    split_raw, base_raw = _unpack(split_src, d), _unpack(base_src, d)
    btf = load(split_src, base=load(base_src))
    assert btf.base is not None and btf.start_id > 1
    _check_both(bpftool, btf, split_raw, base_raw)
    first = dump_bpftool_raw(btf).partition(" ")[0]
    assert first == f"[{btf.start_id}]"  # only the split types are printed


@pytest.mark.oracle
@pytest.mark.shared
def test_split_via_cli(bpftool: str, shared_btf: Path, tmp_path_factory) -> None:
    d = shared_btf / "split" / "linux-6.15.1-tinyconfig"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    tmp = tmp_path_factory.mktemp("split-cli")
    base_raw = _unpack(d / "vmlinux.btf.gz", tmp)
    ko = _unpack(d / "veth.ko.xz", tmp)
    for fmt, json in (("raw", False), ("bpftool-json", True)):
        _assert_same(_cli_dump(d / "veth.ko.xz", fmt, base=d / "vmlinux.btf.gz"),
                     _bpftool_out(bpftool, ko, json=json, base=base_raw))


# -- hand-built blobs -------------------------------------------------------------------------

def _every_kind(b: Builder) -> None:
    """Every kind 1-19 and the corner cases of each."""
    i32 = b.int_("int", 4, signed=True)
    u32 = b.int_("unsigned int", 4)
    u8 = b.int_("unsigned char", 1, char=True)
    b.int_("_Bool", 1, bool_=True, bits=1)
    b.int_("odd", 4, bits=7, offset=3)
    b.rec(b.s("both"), 1, word2=4, extra=((3 << 24) | 32,))  # SIGNED|CHAR: "UNKN"
    b.rec(b.s("enc8"), 1, word2=4, extra=((8 << 24) | 32,))
    p = b.ptr(0)
    arr = b.array(u8, i32, 16)
    b.array(arr, u32, 0xFFFFFFFF)
    s = b.struct("plain", 24, [("a", i32, 0, 0), ("b", arr, 32, 0), ("p", p, 128, 0)])
    b.struct("bits", 8, [("x", u32, 0, 3), ("y", u32, 3, 29), ("z", u32, 32, 0),
                         ("w", u32, 0xFFFFFF, 0xFF)])
    b.union("un", 4, [("i", i32, 0, 0), ("c", u8, 0, 0)])
    b.union("unbits", 4, [("i", i32, 0, 1), ("c", u8, 0, 0)])
    b.struct("", 0, [])
    b.union("", 0, [])
    b.struct("flex", 4, [("n", i32, 0, 0), ("", b.struct("", 0, []), 32, 0)])
    b.enum("uns", 4, [("ZERO", 0), ("MAX", 0xFFFFFFFF), ("HIGH", 0x80000000), ("ONE", 1)])
    b.enum("sig", 4, [("NEG", -1), ("MIN", -(1 << 31)), ("MAXS", (1 << 31) - 1)], signed=True)
    b.enum("", 4, [])
    b.enum("small", 1, [("A", 1)])
    b.fwd("fs")
    b.fwd("fu", union=True)
    td = b.typedef("plain_t", s)
    b.volatile(i32)
    c = b.const(td)
    b.restrict(b.ptr(c))
    proto = b.func_proto(i32, [("a", i32), ("p", p), ("", 0)])
    b.func_proto(0, [])
    for linkage in range(5):
        b.func(f"fn{linkage}", proto, linkage)
    v = b.var("counter", i32)
    for linkage in range(5):
        b.var(f"v{linkage}", u32, linkage)
    b.datasec(".data", 16, [(v, 0, 4), (0, 4, 4), (s, 8, 4), (0xFFFF, 12, 4)])
    b.datasec(".bss", 0, [])
    b.float_("double", 8)
    b.float_("long double", 16)
    b.decl_tag("kfunc", proto, -1)
    b.decl_tag("arg", proto, 1)
    b.decl_tag("huge", s, 0x7FFFFFFF)
    b.decl_tag("neg", s, -2)
    b.type_tag("user", i32)
    b.type_tag("percpu", 0)
    b.enum64("u64", 8, [("HUGE", 1 << 63), ("ALL", (1 << 64) - 1), ("ONE", 1),
                        ("MID", 0x1_0000_0000)])
    b.enum64("s64", 8, [("NEG", -1), ("MIN", -(1 << 63)), ("BIG", (1 << 62) + 5)],
             signed=True)
    b.enum64("", 8, [])


def _odd_names(b: Builder) -> None:
    """Names bpftool prints through json_writer's partial escaping, and offsets it can't read."""
    i32 = b.int_("int", 4, signed=True)
    b.typedef('quote"back\\slash\'apos', i32)
    b.typedef("tab\tnl\ncr\rff\fbs\b", i32)
    b.typedef("ctl\x01\x1f\x7fdel", i32)
    b.typedef("utf8 é ü ✓", i32)
    b.typedef(b"bad\xff\xfe utf8 \xc3", i32)
    b.typedef(b"\xe2\x82", i32)  # truncated multi-byte sequence
    b.typedef("slash\\n", i32)  # prints like "slash\nn" in JSON (backslash -> \n)
    b.struct("names", 8, [(b"m\xff", i32, 0, 0), ("m\"q", i32, 32, 0)])
    b.enum("e", 4, [(b"V\x80", 1), ("V\\", 2)])
    b.func_proto(i32, [(b"p\xc0", i32)])
    b.typedef("x" * 5000, i32)
    for name in ("prefix_suffix", "inv", "ok"):
        b.s(name)
    end = b.str_start + len(b.strs)  # no string is added after this
    b.rec(end + 100, 8, word2=i32)          # past the string section: "(invalid)"
    b.rec(0xFFFFFFFF, 2, word2=i32)
    b.rec(b.s("prefix_suffix") + 7, 8, word2=i32)  # mid-string offset: "suffix"
    b.rec(len(b.strs) - 1, 8, word2=i32)   # offset of the final NUL: '' (not "(anon)")
    b.struct("inv", 4, [("ok", i32, 0, 0)])
    b.rec(end + 1, 4, vlen=1, word2=4, extra=(end + 2, i32, 0))
    b.rec(end + 3, 6, vlen=1, word2=4, extra=(end + 4, 7))
    b.rec(end + 5, 13, vlen=1, word2=i32, extra=(end + 6, i32))
    b.rec(end + 7, 14, word2=i32, extra=(1,))
    b.rec(end + 8, 15, vlen=1, word2=4, extra=(b.next_id - 1, 0, 4))


def _built(tmp_path: Path, name: str, blob: bytes) -> tuple[Btf, Path]:
    path = tmp_path / name
    path.write_bytes(blob)
    return load_bytes(blob, name=str(path)), path


@pytest.mark.oracle
@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
def test_every_kind(order: str, bpftool: str, tmp_path: Path) -> None:
    b = Builder()
    _every_kind(b)
    btf, path = _built(tmp_path, "kinds.btf", b.build(order))
    kinds = {t.kind.value for t in btf}
    assert kinds == set(range(1, 20))
    _check_both(bpftool, btf, path)


@pytest.mark.oracle
def test_odd_names(bpftool: str, tmp_path: Path) -> None:
    b = Builder()
    _odd_names(b)
    btf, path = _built(tmp_path, "names.btf", b.build())
    _check_both(bpftool, btf, path)
    text = dump_bpftool_raw(btf)
    assert "'(invalid)'" in text and "'suffix'" in text and "TYPEDEF '' " in text


@pytest.mark.oracle
def test_shared_sample_blob(bpftool: str, tmp_path: Path) -> None:
    for order in "<>":
        btf, path = _built(tmp_path, f"sample{order == '>'}.btf", sample_blob(order))
        _check_both(bpftool, btf, path)


@pytest.mark.oracle
def test_empty_and_minimal(bpftool: str, tmp_path: Path) -> None:
    b = Builder()
    b.int_("int", 4, signed=True)
    btf, path = _built(tmp_path, "one.btf", b.build())
    _check_both(bpftool, btf, path)


@pytest.mark.oracle
def test_hand_built_split(bpftool: str, tmp_path: Path) -> None:
    base = Builder()
    i32 = base.int_("int", 4, signed=True)
    bs = base.struct("base_s", 4, [("x", i32, 0, 0)])
    v = base.var("base_v", i32)
    base.datasec(".data", 4, [(v, 0, 4)])
    base_blob = base.build()
    split = Builder(str_start=len(base.strs), id_start=base.next_id)
    ptr = split.ptr(bs)
    sv = split.var("mod_v", ptr, 0)
    split.struct("mod_s", 16, [("x", i32, 0, 0), ("base", bs, 32, 0), ("p", ptr, 64, 0)])
    split.typedef("int", i32)  # a name string duplicated from the base
    split.rec(base.s("base_s"), 8, word2=bs)  # a name in the base's string section
    split.datasec(".data..mod", 20, [(sv, 0, 8), (v, 8, 4), (i32, 12, 4),
                                     (split.next_id + 5, 16, 4)])
    split.rec(base.str_start + len(base.strs) + len(split.strs) + 9, 2, word2=0)
    base_path = tmp_path / "base.btf"
    base_path.write_bytes(base_blob)
    split_path = tmp_path / "split.btf"
    split_path.write_bytes(split.build())
    btf = load(split_path, base=load(base_path))
    assert btf.start_id == base.next_id
    _check_both(bpftool, btf, split_path, base_path)
    for fmt, json in (("raw", False), ("bpftool-json", True)):
        _assert_same(_cli_dump(split_path, fmt, base=base_path),
                     _bpftool_out(bpftool, split_path, json=json, base=base_path))


# -- quirks pinned without the oracle (documents what bpftool does) ---------------------------

def test_quirks_without_bpftool() -> None:
    b = Builder()
    i32 = b.int_("int", 4, signed=True)
    b.enum("u", 4, [("NEG", -1)])
    b.enum("s", 4, [("NEG", -1)], signed=True)
    b.enum64("u64", 8, [("TOP", 1 << 63)])
    b.enum64("s64", 8, [("TOP", 1 << 63)], signed=True)
    b.typedef('a\\b"c\'d\te', i32)
    v = b.var("g", i32, 1)
    b.datasec(".d", 4, [(v, 0, 4), (0, 0, 0), (99, 0, 0)])
    b.typedef(b"\xff", i32)
    btf = load_bytes(b.build())
    js = dump_bpftool_json(btf)
    assert js.endswith("]}\n") and js.startswith('{"types":[{"id":1,"kind":"INT"')
    assert '{"name":"NEG","val":18446744073709551615}' in js  # sign-extended __s32
    assert '{"name":"NEG","val":-1}' in js
    assert '{"name":"TOP","val":9223372036854775808}' in js
    assert '{"name":"TOP","val":-9223372036854775808}' in js
    assert '"name":"a\\nb\\"c\'d\\te"' in js  # backslash written as \n, ' unescaped
    raw = dump_bpftool_raw(btf)
    assert "\t'NEG' val=4294967295\n" in raw and "\t'NEG' val=-1\n" in raw
    assert "\t'TOP' val=9223372036854775808ULL\n" in raw
    assert "\t'TOP' val=-9223372036854775808LL\n" in raw
    assert "VAR 'g' type_id=1, linkage=global\n" in raw
    assert f"\ttype_id={v} offset=0 size=4 (VAR 'g')\n" in raw
    assert "\ttype_id=0 offset=0 size=0 (UNKNOWN '(anon)')\n" in raw
    assert "\ttype_id=99 offset=0 size=0\n" in raw
    assert dump_bpftool_bytes(btf).endswith(b"[9] TYPEDEF '\xff' type_id=1\n")


def test_cli_writes_raw_bytes(tmp_path: Path) -> None:
    b = Builder()
    i32 = b.int_("int", 4, signed=True)
    b.typedef(b"caf\xe9", i32)
    path = tmp_path / "latin1.btf"
    path.write_bytes(b.build())
    out = _cli_dump(path, "raw")
    assert out.endswith(b"[2] TYPEDEF 'caf\xe9' type_id=1\n")
    assert _cli_dump(path, "bpftool-json").endswith(b'"name":"caf\xe9","type_id":1}]}\n')


def test_cli_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "junk.btf"
    path.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 30)
    r = subprocess.run([*CLI, "btf", "dump", str(path)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "error" in r.stderr
