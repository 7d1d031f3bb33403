"""``bpfls btf extract``: kernel images and packages built here, malformed ones, sample files."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import random
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from elftools.elf.elffile import ELFFile

import bpfls.btf as B
from bpfls.btf import BtfError
from bpfls.btf.extract import (
    LZ4_LEGACY_BLOCK,
    extract_btf,
    lz4_block_decompress,
    lz4_legacy_decompress,
    write_btf,
)

from btfbuild import BtfBuilder
from conftest import require_tool

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "sample-btf"
IN_CI = bool(os.environ.get("CI"))

BPF_C = r"""
typedef unsigned int u32;
typedef unsigned long long u64;

struct task_info {
    u32 pid;
    u32 tgid;
    u64 start_time;
    char comm[16];
    struct task_info *parent;
    union { u32 flags; struct { u32 a : 3, b : 29; } bits; } u;
};

enum state { RUNNING, SLEEPING = 4, DEAD = 1 << 20 };

struct task_info current_info;
enum state last_state;

__attribute__((section("tracepoint/sched/sched_switch"), used))
int on_switch(struct task_info *t)
{
    current_info = *t;
    last_state = t->pid ? RUNNING : DEAD;
    return t->u.bits.b;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
"""


def _tool(name: str) -> str:
    return require_tool(name)


def _zstandard() -> ModuleType:
    try:
        import zstandard
    except ImportError:
        if IN_CI:
            pytest.fail("zstandard is required in CI")
        pytest.skip("zstandard not installed (pip install zstandard)")
    return zstandard


def _compile(tmp: Path, name: str, debug: bool = True) -> bytes:
    clang = _tool("clang")
    src = tmp / f"{name}.c"
    obj = tmp / f"{name}.o"
    src.write_text(BPF_C)
    cmd = [clang, "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)]
    if debug:
        cmd.insert(1, "-g")
    subprocess.run(cmd, check=True, capture_output=True)
    return obj.read_bytes()


def _section(elf: bytes, name: str) -> bytes:
    sec = ELFFile(io.BytesIO(elf)).get_section_by_name(name)
    assert sec is not None
    return sec.data()


@pytest.fixture(scope="module")
def vmlinux(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(an ELF with a .BTF section standing in for vmlinux, its .BTF bytes)."""
    elf = _compile(tmp_path_factory.mktemp("bpf"), "prog")
    btf = _section(elf, ".BTF")
    assert B.load_bytes(btf).find("task_info") is not None
    return elf, btf


# -- builders of kernel-like inputs --------------------------------------------------------------

def size_append(data: bytes, raw: bytes) -> bytes:
    """What the kernel build appends to a compressed payload: the uncompressed size."""
    return data + struct.pack("<I", len(raw))


def lz4_legacy_cli(raw: bytes, tmp: Path) -> bytes:
    lz4 = _tool("lz4")
    src = tmp / "in.bin"
    src.write_bytes(raw)
    out = subprocess.run([lz4, "-l", "-9", "-c", str(src)], check=True,
                         capture_output=True).stdout
    assert out.startswith(b"\x02\x21\x4c\x18")
    return out


def lz4_literal_block(raw: bytes) -> bytes:
    """An lz4 block of literals only (valid, if not small)."""
    n = len(raw)
    if n < 15:
        return bytes([n << 4]) + raw
    rest = n - 15
    out = bytearray([0xF0])
    while rest >= 255:
        out.append(255)
        rest -= 255
    out.append(rest)
    return bytes(out) + raw


def compress(fmt: str, raw: bytes, tmp: Path) -> bytes:
    """``raw`` compressed the way arch/x86/boot/compressed does it (size appended)."""
    if fmt == "gzip":
        return gzip.compress(raw, 9, mtime=0)
    if fmt == "xz":
        filters = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 6}]
        return size_append(lzma.compress(raw, lzma.FORMAT_XZ, lzma.CHECK_CRC32,
                                         filters=filters), raw)
    if fmt == "zstd":
        zc = _zstandard().ZstdCompressor(level=19, write_checksum=True)
        return size_append(zc.compress(raw), raw)
    if fmt == "lzma":
        return size_append(lzma.compress(raw, lzma.FORMAT_ALONE, preset=9), raw)
    if fmt == "bzip2":
        return size_append(bz2.compress(raw, 9), raw)
    if fmt == "lz4":
        return size_append(lz4_legacy_cli(raw, tmp), raw)
    if fmt == "lz4-literal":
        block = lz4_literal_block(raw)
        return size_append(b"\x02\x21\x4c\x18" + struct.pack("<I", len(block)) + block, raw)
    raise ValueError(fmt)


def bzimage(payload: bytes, setup_sects: int = 4, pad_before: int = 1000,
            payload_offset: int | None = None, payload_length: int | None = None) -> bytes:
    """A minimal x86 bzImage: setup sectors with the header, then protected-mode code with the
    compressed payload in it."""
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x1FE:0x200] = b"\x55\xaa"
    setup[0x200:0x202] = b"\xeb\x6a"
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)
    struct.pack_into("<II", setup, 0x248,
                     pad_before if payload_offset is None else payload_offset,
                     len(payload) if payload_length is None else payload_length)
    code = random.Random(1).randbytes(pad_before)
    return bytes(setup) + code + payload + b"\0" * 4096


def arm64_image(*blobs: bytes, seed: int = 2) -> bytes:
    """An arm64 Image: the 64-byte header with the ARM\\x64 magic, then ``blobs`` among other
    bytes (each at a 4-byte aligned offset, like sections in the image)."""
    rnd = random.Random(seed)
    hdr = bytearray(64)
    hdr[0:4] = b"MZ@\xfa"
    struct.pack_into("<QQQ", hdr, 8, 0, 0x1000000, 0xA)
    hdr[0x38:0x3C] = b"ARM\x64"
    out = bytearray(hdr)
    out += rnd.randbytes(4096)
    for blob in blobs:
        out += rnd.randbytes(rnd.randrange(1, 200) * 4)
        out += blob
        out += b"\0" * (-len(out) % 4)
    out += rnd.randbytes(8192)
    return bytes(out)


def zboot(payload: bytes, comp: str) -> bytes:
    hdr = bytearray(0x40)
    hdr[0:8] = b"MZ\0\0zimg"
    struct.pack_into("<II", hdr, 8, 0x200, len(payload))
    name = comp.encode()
    hdr[24:24 + len(name)] = name
    hdr[0x38:0x3C] = b"\xcd\x23\x82\x81"
    return bytes(hdr) + b"\0" * (0x200 - 0x40) + payload + b"\0" * 64


def build_deb(tmp: Path, package: str, files: dict[str, bytes], compression: str = "xz",
              name: str | None = None, depends: str | None = None) -> Path:
    dpkg_deb = _tool("dpkg-deb")
    root = tmp / f"{name or package}-{compression}-root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Nobody <nobody@example.org>\nDescription: test package\n"
        + (f"Depends: {depends}\n" if depends else ""))
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    out = tmp / f"{name or package}-{compression}.deb"
    subprocess.run([dpkg_deb, "--root-owner-group", f"-Z{compression}", "--build", str(root),
                    str(out)], check=True, capture_output=True)
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfls", "btf", *args], capture_output=True,
                          text=True, timeout=300)


def assert_extracts(path: Path, btf: bytes) -> None:
    assert extract_btf(str(path)) == btf
    out = path.parent / (path.name + ".out.btf")
    r = run_cli("extract", str(path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == btf
    assert B.load(out).find("task_info") is not None


def assert_rejected(path: Path, pattern: str) -> BtfError:
    with pytest.raises(BtfError) as exc:
        extract_btf(str(path))
    assert re.search(pattern, str(exc.value)), str(exc.value)
    assert str(exc.value).startswith(str(path))
    out = path.parent / (path.name + ".never.btf")
    r = run_cli("extract", str(path), "-o", str(out))
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpfls: error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    return exc.value


# -- ELF vmlinux and raw BTF ---------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["none", "gzip", "xz", "zstd", "bzip2"])
def test_elf_vmlinux(tmp_path: Path, vmlinux: tuple[bytes, bytes], fmt: str) -> None:
    elf, btf = vmlinux
    if fmt == "none":
        data = elf
    elif fmt == "gzip":
        data = gzip.compress(elf)
    elif fmt == "xz":
        data = lzma.compress(elf)
    elif fmt == "zstd":
        data = _zstandard().ZstdCompressor().compress(elf)
    else:
        data = bz2.compress(elf)
    path = tmp_path / "vmlinux"
    path.write_bytes(data)
    assert_extracts(path, btf)


def test_raw_btf_passes_through(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    path = tmp_path / "vmlinux.btf"
    path.write_bytes(vmlinux[1])
    assert extract_btf(str(path)) == vmlinux[1]


# -- x86 bzImage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["gzip", "xz", "zstd", "lzma", "bzip2", "lz4", "lz4-literal"])
def test_bzimage(tmp_path: Path, vmlinux: tuple[bytes, bytes], fmt: str) -> None:
    elf, btf = vmlinux
    # The real payload is vmlinux.bin followed by relocation data; keep something after the ELF.
    raw = elf + random.Random(3).randbytes(3000)
    path = tmp_path / "vmlinuz"
    path.write_bytes(bzimage(compress(fmt, raw, tmp_path)))
    assert_extracts(path, btf)


def test_bzimage_setup_sects_zero_means_four(tmp_path: Path,
                                             vmlinux: tuple[bytes, bytes]) -> None:
    image = bytearray(bzimage(compress("gzip", vmlinux[0], tmp_path), setup_sects=4))
    image[0x1F1] = 0
    path = tmp_path / "vmlinuz"
    path.write_bytes(image)
    assert extract_btf(str(path)) == vmlinux[1]


# -- arm64 Image and EFI zboot -------------------------------------------------------------------

def _decoys() -> tuple[bytes, bytes]:
    """A small valid BTF (which must lose to the kernel's bigger one) and a header whose
    section lengths point past the end of the image."""
    b = BtfBuilder()
    b.int_("int", 4, signed=True)
    small = b.build()
    bogus = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 0x7FFFFFF0, 0x7FFFFFF0, 16)
    return small, bogus


def test_arm64_image(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    small, bogus = _decoys()
    # a corrupt copy: right header and lengths, garbage type records
    corrupt = vmlinux[1][:24] + b"\xff" * (len(vmlinux[1]) - 24)
    path = tmp_path / "Image"
    path.write_bytes(arm64_image(small, bogus, corrupt, vmlinux[1], small))
    assert_extracts(path, vmlinux[1])


def test_arm64_image_gz(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    path = tmp_path / "Image.gz"
    path.write_bytes(gzip.compress(arm64_image(vmlinux[1])))
    assert_extracts(path, vmlinux[1])


@pytest.mark.parametrize("fmt,name", [("gzip", "gzip"), ("zstd", "zstd22"), ("xz", "xzkern"),
                                      ("lzma", "lzma"), ("lz4-literal", "lz4")])
def test_efi_zboot(tmp_path: Path, vmlinux: tuple[bytes, bytes], fmt: str, name: str) -> None:
    image = arm64_image(vmlinux[1])
    payload = compress(fmt, image, tmp_path)
    if fmt != "gzip":
        payload = payload[:-4]  # zboot's payload size leaves out the appended size
    path = tmp_path / "vmlinuz.efi"
    path.write_bytes(zboot(payload, name))
    assert_extracts(path, vmlinux[1])


# -- Debian packages -----------------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["xz", "gzip", "zstd", "none"])
def test_deb(tmp_path: Path, vmlinux: tuple[bytes, bytes], compression: str) -> None:
    if compression == "zstd":
        _zstandard()
    image = bzimage(compress("xz", vmlinux[0], tmp_path))
    deb = build_deb(tmp_path, "linux-image-1.0-test", {
        "boot/System.map-1.0-test": b"ffffffff81000000 T _text\n",
        "boot/config-1.0-test": b"CONFIG_DEBUG_INFO_BTF=y\n",
        "boot/vmlinuz-1.0-test": image,
        "usr/lib/modules/1.0-test/kernel/foo.ko": b"\x7fELF not really",
    }, compression)
    assert_extracts(deb, vmlinux[1])


def test_deb_with_dbg_vmlinux(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    deb = build_deb(tmp_path, "linux-image-1.0-test-dbg", {
        "usr/lib/debug/boot/vmlinux-1.0-test": vmlinux[0],
    })
    assert_extracts(deb, vmlinux[1])


def test_deb_without_kernel(tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "linux-modules-1.0-test", {
        "boot/System.map-1.0-test": b"ffffffff81000000 T _text\n",
        "boot/config-1.0-test": b"CONFIG_DEBUG_INFO_BTF=y\n",
        "lib/modules/1.0-test/kernel/foo.ko": b"\x7fELF not really",
    })
    e = assert_rejected(deb, r"no kernel image .* in package linux-modules-1\.0-test")
    assert "boot/System.map-1.0-test" in str(e)
    assert "linux-image-" in str(e)


def test_deb_metapackage(tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "linux-image-amd64", {
        "usr/share/doc/linux-image-amd64/copyright": b"GPL-2\n",
    }, depends="linux-image-6.1.0-50-amd64 (= 6.1.176-1), kmod")
    assert_rejected(deb, r"in package linux-image-amd64 \(1 files\); this looks like a "
                         r"metapackage.*: linux-image-6\.1\.0-50-amd64 \(= 6\.1\.176-1\)$")


def test_deb_kernel_image_is_checked(tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "linux-image-1.0-test", {
        "boot/vmlinuz-1.0-test": b"this is not a kernel",
    })
    assert_rejected(deb, r"boot/vmlinuz-1\.0-test is not a kernel image")


def test_truncated_deb(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    deb = build_deb(tmp_path, "linux-image-1.0-test", {
        "boot/vmlinuz-1.0-test": bzimage(compress("gzip", vmlinux[0], tmp_path)),
    })
    data = deb.read_bytes()
    cut = tmp_path / "cut.deb"
    cut.write_bytes(data[:len(data) - 100])
    assert_rejected(cut, r"truncated ar archive")


def test_ar_that_is_not_a_deb(tmp_path: Path) -> None:
    path = tmp_path / "lib.a"
    member = b"hello\n"
    path.write_bytes(b"!<arch>\n" + b"x.o/".ljust(16) + b"0".ljust(12) + b"0".ljust(6) * 2
                     + b"644".ljust(8) + str(len(member)).encode().ljust(10) + b"`\n" + member)
    assert_rejected(path, r"not a Debian package")


# -- lz4 ------------------------------------------------------------------------------------------

def test_lz4_legacy_multi_block(tmp_path: Path) -> None:
    rnd = random.Random(4)
    words = [rnd.randbytes(rnd.randrange(1, 12)) for _ in range(500)]
    chunks = []
    size = 0
    while size < 2 * LZ4_LEGACY_BLOCK + 12345:
        w = rnd.choice(words) * rnd.choice((1, 1, 1, 2, 7, 40))
        chunks.append(w)
        size += len(w)
    raw = b"".join(chunks)
    data = lz4_legacy_cli(raw, tmp_path)
    assert lz4_legacy_decompress(data) == raw
    assert lz4_legacy_decompress(size_append(data, raw)) == raw


def test_lz4_overlapping_matches() -> None:
    # "ab" literals, then a match of 9 at offset 2 (overlapping), then "xyz", then a
    # run of 300 at offset 1, then the last literals
    block = bytes([0x25]) + b"ab" + b"\x02\x00"
    block += bytes([0x3F]) + b"xyz" + b"\x01\x00" + bytes([255, 26])
    block += bytes([0x30]) + b"end"
    out = bytearray()
    lz4_block_decompress(block, 0, len(block), out, 1 << 20)
    assert bytes(out) == b"ab" + b"abababab" + b"a" + b"xyz" + b"z" * 300 + b"end"


@pytest.mark.parametrize("block,msg", [
    (b"\x10", "literals run past"),
    (b"\x00\x00\x00", "match offset 0"),
    (b"\x10a\x05\x00", "match offset 5"),
    (b"\x1f" + b"a" + b"\x01\x00" + b"\xff" * 3, "ends inside a match length"),
    (b"\xf0", "ends inside a literal length"),
    (b"\x10a\x01", "ends inside a match offset"),
])
def test_lz4_corrupt_blocks(block: bytes, msg: str) -> None:
    with pytest.raises(BtfError, match=msg):
        lz4_block_decompress(block, 0, len(block), bytearray(), 1 << 20)


def test_lz4_output_limit() -> None:
    block = bytes([0x1F]) + b"a" + b"\x01\x00" + b"\xff" * 100 + b"\x00" + bytes([0x00])
    with pytest.raises(BtfError, match="more than 1000 bytes"):
        lz4_block_decompress(block, 0, len(block), bytearray(), 1000)
    data = b"\x02\x21\x4c\x18" + struct.pack("<I", len(block)) + block
    with pytest.raises(BtfError, match="more than 1000 bytes"):
        lz4_legacy_decompress(data, limit=1000)


# -- malformed inputs ----------------------------------------------------------------------------

def test_truncated_bzimage(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    image = bzimage(compress("xz", vmlinux[0], tmp_path))
    path = tmp_path / "vmlinuz"
    path.write_bytes(image[:len(image) // 2])
    assert_rejected(path, r"bzImage payload .* runs past the end of the file")
    path.write_bytes(image[:0x220])
    assert_rejected(path, r"truncated bzImage")


def test_bzimage_payload_offset_out_of_range(tmp_path: Path,
                                             vmlinux: tuple[bytes, bytes]) -> None:
    payload = compress("gzip", vmlinux[0], tmp_path)
    path = tmp_path / "vmlinuz"
    path.write_bytes(bzimage(payload, payload_offset=0xFFFFFFF0))
    assert_rejected(path, r"runs past the end of the file")
    path.write_bytes(bzimage(payload, payload_length=0x7FFFFFFF))
    assert_rejected(path, r"runs past the end of the file")
    path.write_bytes(bzimage(payload, payload_length=0))
    assert_rejected(path, r"empty payload")
    path.write_bytes(bzimage(payload, payload_offset=0))  # points at code, not a payload
    assert_rejected(path, r"unknown compression format")


@pytest.mark.parametrize("fmt", ["xz", "gzip", "zstd", "lzma", "bzip2", "lz4"])
def test_corrupt_payload(tmp_path: Path, vmlinux: tuple[bytes, bytes], fmt: str) -> None:
    payload = bytearray(compress(fmt, vmlinux[0], tmp_path))
    mid = len(payload) // 2
    payload[mid:mid + 64] = bytes(b ^ 0x5A for b in payload[mid:mid + 64])
    path = tmp_path / "vmlinuz"
    path.write_bytes(bzimage(bytes(payload)))
    assert_rejected(path, r"bzImage payload")


@pytest.mark.parametrize("fmt", ["xz", "gzip", "zstd", "lzma", "bzip2", "lz4-literal"])
def test_payload_cut_short(tmp_path: Path, vmlinux: tuple[bytes, bytes], fmt: str) -> None:
    payload = compress(fmt, vmlinux[0], tmp_path)
    path = tmp_path / "vmlinuz"
    path.write_bytes(bzimage(payload[:len(payload) * 2 // 3]))
    assert_rejected(path, r"bzImage payload")


def test_lzo_payload(tmp_path: Path) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(bzimage(b"\x89LZO\x00\r\n\x1a\n" + b"\0" * 100))
    assert_rejected(path, r"lzo-compressed, which is not supported")


def test_payload_not_elf(tmp_path: Path) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(bzimage(gzip.compress(b"just text" * 100)))
    assert_rejected(path, r"bzImage payload \(gzip-decompressed\) is not a kernel image")


def test_elf_without_btf(tmp_path: Path) -> None:
    path = tmp_path / "vmlinux"
    path.write_bytes(_compile(tmp_path, "nodebug", debug=False))
    assert_rejected(path, r"no \.BTF section")


def test_arm64_image_without_btf(tmp_path: Path) -> None:
    small, bogus = _decoys()
    path = tmp_path / "Image"
    path.write_bytes(arm64_image(bogus))
    assert_rejected(path, r"arm64 Image.*no valid BTF")
    path.write_bytes(arm64_image(small))  # a valid blob is still taken
    assert extract_btf(str(path)) == small


def test_truncated_zboot(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    image = zboot(gzip.compress(arm64_image(vmlinux[1])), "gzip")
    path = tmp_path / "vmlinuz.efi"
    path.write_bytes(image[:len(image) // 2])
    assert_rejected(path, r"EFI zboot payload .* runs past the end")


@pytest.mark.parametrize("make", [
    lambda: random.Random(5).randbytes(100000),
    lambda: b"",
    lambda: b"\x1f\x8b" + random.Random(6).randbytes(1000),
    lambda: b"\xfd7zXZ\x00" + random.Random(7).randbytes(1000),
    lambda: b"\x7fELF" + random.Random(8).randbytes(1000),
    lambda: b"\x9f\xeb\x01\x00" + random.Random(9).randbytes(100),
    lambda: b"!<arch>\n" + random.Random(10).randbytes(1000),
])
def test_garbage(tmp_path: Path, make: Callable[[], bytes]) -> None:
    path = tmp_path / "junk"
    path.write_bytes(make())
    assert_rejected(path, r".")


def test_missing_file(tmp_path: Path) -> None:
    assert_rejected(tmp_path / "nope", r"no such file")


def test_nested_too_deep(tmp_path: Path) -> None:
    data = b"\x9f\xeb\x01\x00 not btf"
    for _ in range(10):
        data = gzip.compress(data)
    path = tmp_path / "deep.gz"
    path.write_bytes(data)
    assert_rejected(path, r"too many nested layers")


# -- write_btf -----------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,unpack", [
    (".btf", lambda d: d),
    (".btf.xz", lzma.decompress),
    (".btf.gz", gzip.decompress),
])
def test_write_btf(tmp_path: Path, vmlinux: tuple[bytes, bytes], suffix: str,
                   unpack: Callable[[bytes], bytes]) -> None:
    out = tmp_path / f"k{suffix}"
    write_btf(vmlinux[1], str(out))
    assert unpack(out.read_bytes()) == vmlinux[1]
    assert B.load(out).nr_types == B.load_bytes(vmlinux[1]).nr_types
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_write_btf_unwritable(tmp_path: Path, vmlinux: tuple[bytes, bytes]) -> None:
    out = tmp_path / "no" / "such" / "dir" / "k.btf"
    with pytest.raises(BtfError, match="cannot write"):
        write_btf(vmlinux[1], str(out))
    src = tmp_path / "vmlinux"
    src.write_bytes(vmlinux[0])
    r = run_cli("extract", str(src), "-o", str(out))
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr


# -- the bundled sample kernels ------------------------------------------------------------------

def readme_checksums() -> dict[str, tuple[str, str]]:
    """file name -> (sha256 of the .xz, sha256 of the raw BTF), from sample-btf/README.md."""
    rows = {}
    for line in (SAMPLE_DIR / "README.md").read_text().splitlines():
        m = re.match(r"\|\s*`([\w.+-]+\.btf\.xz)`\s*\|\s*`([0-9a-f]{64})`\s*\|"
                     r"\s*`([0-9a-f]{64})`\s*\|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def test_sample_readme_lists_every_file() -> None:
    rows = readme_checksums()
    assert set(rows) >= {"5.10-amd64.btf.xz", "6.1-amd64.btf.xz", "6.12-amd64.btf.xz",
                         "6.12-arm64.btf.xz"}
    assert {p.name for p in SAMPLE_DIR.glob("*.btf.xz")} == set(rows)


@pytest.mark.parametrize("name", sorted(readme_checksums()))
def test_sample_checksums(name: str) -> None:
    xz_sum, raw_sum = readme_checksums()[name]
    path = SAMPLE_DIR / name
    assert path.is_file(), f"{name} is listed in sample-btf/README.md but missing"
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == xz_sum
    raw = lzma.decompress(data)
    assert hashlib.sha256(raw).hexdigest() == raw_sum
    assert extract_btf(str(path)) == raw


@pytest.mark.oracle
def test_debian_packages_give_the_sample_files() -> None:
    """With BPFLS_DEB_DIR naming a directory of the packages sample-btf/fetch.sh downloads,
    extracting each gives exactly the bundled file."""
    deb_dir = os.environ.get("BPFLS_DEB_DIR")
    if not deb_dir:
        pytest.skip("set BPFLS_DEB_DIR to a directory holding the linux-image-*.deb files")
    script = (SAMPLE_DIR / "fetch.sh").read_text()
    rows = readme_checksums()
    for m in re.finditer(r'"(\S+) (linux-image-\S+) (\S+) (\w+) \w+ [0-9a-f]{64}"', script):
        name, pkg, ver, arch = m.groups()
        deb = Path(deb_dir) / f"{pkg}_{ver}_{arch}.deb"
        if not deb.exists():
            pytest.skip(f"{deb} not present")
        raw = extract_btf(str(deb))
        assert hashlib.sha256(raw).hexdigest() == rows[f"{name}.btf.xz"][1]
