"""Getting a kernel's ``.BTF`` out of the images and packages people already have.

:func:`extract_btf` understands, nested in any sensible order:

* an ELF ``vmlinux`` (its ``.BTF`` section), raw BTF (returned as is);
* gzip, xz, zstd and bzip2 compression of any of these;
* an x86 ``bzImage`` (``vmlinuz``): the setup header points at the compressed payload (gzip, xz,
  zstd, lzma, bzip2 or lz4 legacy), which holds an ELF ``vmlinux``;
* an arm64 ``Image``, which has no section table: the BTF blob is found by its header and
  accepted only if it parses; an EFI zboot image (``vmlinuz.efi``) around one;
* a Debian/Ubuntu ``linux-image-*.deb``: ``boot/vmlinuz-*`` or ``boot/vmlinux-*`` inside it.

Every problem with the input is a :class:`BtfError`; every decompression is size-limited.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from types import ModuleType

from bpfls.btf.btf import Btf
from bpfls.btf.errors import BtfError
from bpfls.btf.files import (
    ELF_MAGIC,
    MAX_DECOMPRESSED,
    compression_of,
    elf_sections,
    read_file,
    zstandard_module,
)

#: How many container layers (package, compression, boot image, ...) are followed.
MAX_DEPTH = 6
#: Bytes of a package's data.tar read while looking for the kernel image.
MAX_PACKAGE_STREAM = 4 * MAX_DECOMPRESSED
#: BTF header candidates tried when scanning an image with no section table.
MAX_SCAN_CANDIDATES = 1024

AR_MAGIC = b"!<arch>\n"
BZIP2_MAGIC = b"BZh"
LZ4_LEGACY_MAGIC = b"\x02\x21\x4c\x18"
LZO_MAGIC = b"\x89LZO\x00\r\n\x1a\n"
ARM64_MAGIC = b"ARM\x64"
BZIMAGE_MAGIC = b"HdrS"
# magic, version 1, flags 0, hdr_len 24 in either byte order
BTF_HEADER_LE = b"\x9f\xeb\x01\x00\x18\x00\x00\x00"
BTF_HEADER_BE = b"\xeb\x9f\x01\x00\x00\x00\x00\x18"
BTF_HEADER_LEN = 24

LZ4_LEGACY_BLOCK = 8 << 20  # each lz4 legacy block decompresses to at most 8 MiB
KERNEL_IMAGE_RE = re.compile(r"(?:^|/)boot/vmlinu[xz]-[^/]+$")

EXPECTED = ("expected an ELF vmlinux, an x86 bzImage (vmlinuz), an arm64 Image, "
            "a linux-image-*.deb, or a gzip/xz/zstd/bzip2-compressed one of these")


def extract_btf(path: str) -> bytes:
    """Return the raw ``.BTF`` bytes of the kernel image or package at ``path``."""
    p = os.fspath(path)
    return _extract(read_file(p), p, "file", 0)


def write_btf(data: bytes, out: str) -> None:
    """Write raw BTF to ``out``: xz-compressed for ``*.xz``, gzip for ``*.gz``, zstd for
    ``*.zst``, as is otherwise. The file appears complete or not at all."""
    o = os.fspath(out)
    if o.endswith(".xz"):
        payload = lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                                preset=9 | lzma.PRESET_EXTREME)
    elif o.endswith(".gz"):
        payload = gzip.compress(data, compresslevel=9, mtime=0)
    elif o.endswith(".zst"):
        zstandard = zstandard_module("writing .zst needs the 'zstandard' package "
                                     "(pip install zstandard)", o)
        payload = zstandard.ZstdCompressor(level=19).compress(data)
    else:
        payload = data
    directory = os.path.dirname(os.path.abspath(o))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".btf-", dir=directory)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, 0o644)
        os.replace(tmp, o)
        tmp = None
    except OSError as e:
        raise BtfError(f"cannot write: {e.strerror or e}", o) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# -- dispatch ----------------------------------------------------------------------------------

def _extract(data: bytes, path: str, what: str, depth: int) -> bytes:
    """The BTF in ``data``, which is ``what`` ("file", "bzImage payload", ...) of ``path``."""
    if depth > MAX_DEPTH:
        raise BtfError(f"{what}: too many nested layers of packaging/compression", path)
    if not data:
        raise BtfError(f"{what} is empty", path)
    if data.startswith(AR_MAGIC):
        return _from_deb(data, path, depth)
    fmt = _stream_compression(data)
    if fmt is not None:
        inner = _decompress_first(data, fmt, path, what)
        return _extract(inner, path, f"{what} ({fmt}-decompressed)", depth + 1)
    if data.startswith(ELF_MAGIC):
        secs = elf_sections(data, path, (".BTF",))
        if ".BTF" not in secs:
            raise BtfError(f"{what}: ELF file has no .BTF section (kernel built without "
                           "CONFIG_DEBUG_INFO_BTF?)", path)
        btf = secs[".BTF"]
        _check_btf(btf, path, f"{what}: ELF .BTF section")
        return btf
    if len(data) >= 0x206 and data[0x202:0x206] == BZIMAGE_MAGIC:
        payload, fmt = _bzimage_payload(data, path)
        inner = _decompress_first(payload, fmt, path, "bzImage payload")
        return _extract(inner, path, f"bzImage payload ({fmt}-decompressed)", depth + 1)
    if data[:2] == b"MZ" and data[4:8] == b"zimg":
        payload, fmt = _zboot_payload(data, path)
        inner = _decompress_first(payload, fmt, path, "EFI zboot payload")
        return _extract(inner, path, f"EFI zboot payload ({fmt}-decompressed)", depth + 1)
    if data[0x38:0x3C] == ARM64_MAGIC:
        return _scan_image(data, path, f"{what} (arm64 Image)")
    if data[:2] in (b"\x9f\xeb", b"\xeb\x9f"):
        _check_btf(data, path, f"{what}: raw BTF")
        return data
    head = data[:8].hex()
    raise BtfError(f"{what} is not a kernel image (starts with {head}); {EXPECTED}", path, 0)


def _check_btf(data: bytes, path: str, what: str) -> Btf:
    try:
        return Btf(data, path=path)
    except BtfError as e:
        raise BtfError(f"{what} is not valid BTF: {e.message}", path, e.offset) from None


def _stream_compression(data: bytes) -> str | None:
    """Compression formats recognised at the top level (their magic is unambiguous)."""
    fmt = compression_of(data)
    if fmt is not None:
        return fmt
    if data.startswith(BZIP2_MAGIC) and data[3:4] in b"123456789" and data[3:4] and \
            data[4:10] == b"1AY&SY":
        return "bzip2"
    return None


def _payload_compression(data: bytes, path: str, what: str) -> str:
    """Compression of a boot image payload (also lzma-alone and lz4 legacy, as the kernel
    builds them)."""
    fmt = _stream_compression(data)
    if fmt is not None:
        return fmt
    if data.startswith(LZ4_LEGACY_MAGIC):
        return "lz4"
    if data.startswith(LZO_MAGIC):
        raise BtfError(f"{what} is lzo-compressed, which is not supported "
                       "(decompress it with lzop and pass the result)", path)
    # lzma-alone: a properties byte (lc/lp/pb, 0x5d for the defaults) and a dictionary size
    if len(data) >= 13 and data[0] < 9 * 5 * 5 and struct.unpack_from("<I", data, 1)[0] in {
            1 << n for n in range(12, 31)} | {3 << n for n in range(11, 30)}:
        return "lzma"
    raise BtfError(f"{what} has an unknown compression format (starts with {data[:8].hex()}); "
                   "expected gzip, xz, zstd, lzma, bzip2 or lz4", path)


# -- decompression -----------------------------------------------------------------------------

def _too_big(fmt: str, path: str, what: str, limit: int) -> BtfError:
    return BtfError(f"{what}: {fmt} data decompresses to more than {limit} bytes", path)


def _decompress_first(data: bytes, fmt: str, path: str, what: str,
                      limit: int = MAX_DECOMPRESSED) -> bytes:
    """Decompress the first stream/frame of ``data`` (anything after it is ignored: kernel
    build rules append the uncompressed size), refusing output larger than ``limit``."""
    try:
        if fmt in ("gzip", "xz", "lzma", "bzip2"):
            d: zlib._Decompress | lzma.LZMADecompressor | bz2.BZ2Decompressor
            if fmt == "gzip":
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            elif fmt == "xz":
                d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            elif fmt == "lzma":
                d = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
            else:
                d = bz2.BZ2Decompressor()
            out = d.decompress(data, limit + 1)
            if len(out) > limit:
                raise _too_big(fmt, path, what, limit)
            if not d.eof:
                raise BtfError(f"{what}: truncated {fmt} data", path)
            return out
        if fmt == "zstd":
            return _zstd_first(data, path, what, limit)
        if fmt == "lz4":
            return lz4_legacy_decompress(data, path, what, limit)
    except BtfError:
        raise
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise BtfError(f"{what}: corrupt {fmt} data: {e}", path) from None
    except Exception as e:  # zstandard.ZstdError
        raise BtfError(f"{what}: corrupt {fmt} data: {e}", path) from None
    raise ValueError(fmt)


def _zstandard(path: str) -> ModuleType:
    return zstandard_module("zstd-compressed data, but the 'zstandard' package is not installed "
                            "(pip install zstandard)", path)


def _zstd_first(data: bytes, path: str, what: str, limit: int) -> bytes:
    zstandard = _zstandard(path)
    d = zstandard.ZstdDecompressor().decompressobj()
    parts: list[bytes] = []
    total = 0
    step = 4096  # a zstd block expands at most ~32768 times, so overshoot stays bounded
    for i in range(0, len(data), step):
        chunk = d.decompress(data[i:i + step])
        total += len(chunk)
        if total > limit:
            raise _too_big("zstd", path, what, limit)
        parts.append(chunk)
        if d.eof:
            return b"".join(parts)
    raise BtfError(f"{what}: truncated zstd data", path)


def lz4_legacy_decompress(data: bytes, path: str = "<bytes>", what: str = "data",
                          limit: int = MAX_DECOMPRESSED) -> bytes:
    """Decompress lz4 legacy framing (``lz4 -l``, as Linux uses for lz4 kernels).

    The stream is the magic ``0x184C2102`` followed by blocks, each a little-endian 32-bit
    compressed size and an lz4 block of at most 8 MiB of output. It ends at the end of the
    data, after a block with less than 8 MiB of output, or before a trailing 4-byte size field
    (kernel images append one).
    """
    if not data.startswith(LZ4_LEGACY_MAGIC):
        raise BtfError(f"{what}: not lz4 legacy data", path)
    out = bytearray()
    pos = 4
    n = len(data)
    blocks = 0
    while pos < n:
        if n - pos < 4:
            if blocks:
                break  # trailing bytes
            raise BtfError(f"{what}: truncated lz4 data", path)
        size = struct.unpack_from("<I", data, pos)[0]
        if data[pos:pos + 4] == LZ4_LEGACY_MAGIC:
            pos += 4  # concatenated streams
            continue
        pos += 4
        if pos == n and blocks:
            break  # that was the appended size field
        if size == 0 or size > n - pos:
            raise BtfError(f"{what}: truncated or corrupt lz4 data (block of {size} bytes at "
                           f"offset {pos - 4}, {n - pos} bytes left)", path)
        before = len(out)
        block_limit = min(LZ4_LEGACY_BLOCK, limit - before)
        if block_limit < 0:
            raise _too_big("lz4", path, what, limit)
        lz4_block_decompress(data, pos, pos + size, out, before + block_limit, path, what)
        if len(out) > limit:
            raise _too_big("lz4", path, what, limit)
        pos += size
        blocks += 1
        if len(out) - before < LZ4_LEGACY_BLOCK:
            break  # a short block is the last one
    if not blocks:
        raise BtfError(f"{what}: lz4 data has no blocks", path)
    return bytes(out)


def lz4_block_decompress(src: bytes, start: int, end: int, out: bytearray, limit: int,
                         path: str = "<bytes>", what: str = "data") -> None:
    """Append the decoding of the lz4 block ``src[start:end]`` to ``out``, which must not grow
    past ``limit`` bytes. Matches may reach back into what ``out`` already holds."""

    def bad(msg: str) -> BtfError:
        return BtfError(f"{what}: corrupt lz4 block: {msg}", path)

    i = start
    while True:
        if i >= end:
            raise bad("ends inside a sequence")
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                if i >= end:
                    raise bad("ends inside a literal length")
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        if lit:
            if i + lit > end:
                raise bad("literals run past the end of the block")
            if len(out) + lit > limit:
                raise bad(f"decompresses to more than {limit} bytes")
            out += src[i:i + lit]
            i += lit
        if i == end:
            return  # the last sequence has literals only
        if i + 2 > end:
            raise bad("ends inside a match offset")
        off = src[i] | src[i + 1] << 8
        i += 2
        ln = len(out)
        if off == 0 or off > ln:
            raise bad(f"match offset {off} outside the {ln} bytes decoded so far")
        mlen = token & 15
        if mlen == 15:
            while True:
                if i >= end:
                    raise bad("ends inside a match length")
                b = src[i]
                i += 1
                mlen += b
                if b != 255:
                    break
        mlen += 4
        if ln + mlen > limit:
            raise bad(f"decompresses to more than {limit} bytes")
        s = ln - off
        if off >= mlen:
            out += out[s:s + mlen]
        elif off == 1:
            out += out[s:s + 1] * mlen
        else:
            pat = out[s:ln]
            out += (pat * (mlen // off + 1))[:mlen]


# -- boot images -------------------------------------------------------------------------------

def _bzimage_payload(data: bytes, path: str) -> tuple[bytes, str]:
    """The compressed payload of an x86 bzImage and its compression format."""
    if len(data) < 0x250:
        raise BtfError(f"truncated bzImage: {len(data)} bytes, too short for a setup header",
                       path)
    version = struct.unpack_from("<H", data, 0x206)[0]
    if version < 0x208:
        raise BtfError(f"bzImage boot protocol {version >> 8}.{version & 0xff:02d} is too old "
                       "to describe its payload (need 2.08, Linux 2.6.26+)", path, 0x206)
    setup_sects = data[0x1F1] or 4
    pm_start = (setup_sects + 1) * 512
    off, length = struct.unpack_from("<II", data, 0x248)
    start = pm_start + off
    if length == 0:
        raise BtfError("bzImage has an empty payload (payload_length is 0)", path, 0x24C)
    if start + length > len(data):
        raise BtfError(
            f"bzImage payload (offset {start} = ({setup_sects}+1)*512 + {off}, length "
            f"{length}) runs past the end of the file ({len(data)} bytes; truncated?)",
            path, 0x248)
    payload = data[start:start + length]
    return payload, _payload_compression(payload, path, "bzImage payload")


def _zboot_payload(data: bytes, path: str) -> tuple[bytes, str]:
    """The compressed payload of an EFI zboot image (``MZ``, ``zimg``, offset, size, type)."""
    if len(data) < 0x40:
        raise BtfError("truncated EFI zboot image header", path)
    off, size = struct.unpack_from("<II", data, 8)
    comp = data[24:56].split(b"\0", 1)[0].decode("ascii", "replace")
    if size == 0 or off + size > len(data):
        raise BtfError(f"EFI zboot payload (offset {off}, length {size}) runs past the end of "
                       f"the file ({len(data)} bytes; truncated?)", path, 8)
    payload = data[off:off + size]
    fmt = _payload_compression(payload, path, f"EFI zboot payload ({comp or 'unknown'})")
    return payload, fmt


def _scan_image(data: bytes, path: str, what: str) -> bytes:
    """Find a kernel's BTF in an image without a section table: try every BTF header
    candidate and keep the largest one that parses cleanly."""
    best: bytes | None = None
    tried = 0
    n = len(data)
    for needle, order in ((BTF_HEADER_LE, "<"), (BTF_HEADER_BE, ">")):
        pos = data.find(needle)
        while pos >= 0:
            tried += 1
            if tried > MAX_SCAN_CANDIDATES:
                raise BtfError(f"{what}: more than {MAX_SCAN_CANDIDATES} BTF header "
                               "candidates; giving up", path)
            if pos + BTF_HEADER_LEN <= n:
                type_off, type_len, str_off, str_len = struct.unpack_from(order + "IIII",
                                                                          data, pos + 8)
                size = BTF_HEADER_LEN + max(type_off + type_len, str_off + str_len)
                if type_len and str_len and pos + size <= n and (
                        best is None or size > len(best)):
                    blob = data[pos:pos + size]
                    try:
                        Btf(blob, path=path)
                    except BtfError:
                        pass
                    else:
                        best = blob
            pos = data.find(needle, pos + 1)
    if best is None:
        raise BtfError(f"{what}: no valid BTF found ({tried} header candidates; kernel built "
                       "without CONFIG_DEBUG_INFO_BTF?)", path)
    return best


# -- packages ----------------------------------------------------------------------------------

def _ar_members(data: bytes, path: str) -> dict[str, tuple[int, int]]:
    """Name -> (offset, size) of the members of an ``ar`` archive."""
    members: dict[str, tuple[int, int]] = {}
    pos = len(AR_MAGIC)
    n = len(data)
    while pos < n:
        if data[pos:pos + 1] == b"\n":  # padding to an even offset
            pos += 1
            continue
        if pos + 60 > n:
            raise BtfError(f"truncated ar archive: member header at offset {pos} is cut off",
                           path, pos)
        hdr = data[pos:pos + 60]
        if hdr[58:60] != b"`\n":
            raise BtfError(f"malformed ar archive: bad member header at offset {pos}", path,
                           pos)
        name = hdr[:16].decode("ascii", "replace").rstrip(" ").removesuffix("/")
        try:
            size = int(hdr[48:58].decode("ascii").strip())
        except ValueError:
            raise BtfError(f"malformed ar archive: bad member size at offset {pos}", path,
                           pos + 48) from None
        body = pos + 60
        if size < 0 or body + size > n:
            raise BtfError(f"truncated ar archive: member {name!r} ({size} bytes at offset "
                           f"{body}) runs past the end of the file ({n} bytes)", path, body)
        members.setdefault(name, (body, size))
        pos = body + size + (size & 1)
    return members


class _LimitedReader(io.RawIOBase):
    """A readable stream that refuses to deliver more than ``limit`` bytes."""

    def __init__(self, raw: io.BufferedIOBase | io.RawIOBase, limit: int, path: str,
                 what: str) -> None:
        self._raw = raw
        self._left = limit
        self._limit = limit
        self._path = path
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._raw.read(len(b))
        if chunk is None:
            return 0
        if len(chunk) > self._left:
            raise BtfError(f"{self._what} is larger than {self._limit} bytes", self._path)
        self._left -= len(chunk)
        b[:len(chunk)] = chunk
        return len(chunk)


def _tar_stream(data: bytes, member: str, path: str) -> io.RawIOBase:
    """A stream of the uncompressed tar in package member ``member`` (data.tar.xz, ...)."""
    suffix = member.rsplit(".tar", 1)[-1]
    raw: io.BufferedIOBase | io.RawIOBase
    src = io.BytesIO(data)
    if suffix == "":
        raw = src
    elif suffix == ".gz":
        raw = gzip.GzipFile(fileobj=src)
    elif suffix == ".xz":
        raw = lzma.LZMAFile(src, format=lzma.FORMAT_XZ)
    elif suffix == ".lzma":
        raw = lzma.LZMAFile(src, format=lzma.FORMAT_ALONE)
    elif suffix == ".bz2":
        raw = bz2.BZ2File(src)
    elif suffix == ".zst":
        raw = _zstandard(path).ZstdDecompressor().stream_reader(src, read_across_frames=True)
    else:
        raise BtfError(f"package member {member} has an unknown compression", path)
    return _LimitedReader(raw, MAX_PACKAGE_STREAM, path, f"package member {member}")


def _tar_errors(path: str, member: str, fn: Callable[[], bytes | None]) -> bytes | None:
    try:
        return fn()
    except BtfError:
        raise
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise BtfError(f"corrupt package member {member}: {e}", path) from None
    except Exception as e:  # zstandard.ZstdError
        raise BtfError(f"corrupt package member {member}: {e}", path) from None


def _package_control(data: bytes, members: dict[str, tuple[int, int]],
                     path: str) -> dict[str, str]:
    """The fields of a .deb's control file (empty when it cannot be read)."""
    name = next((m for m in members if m.startswith("control.tar")), None)
    if name is None:
        return {}
    off, size = members[name]

    def read() -> bytes | None:
        with tarfile.open(fileobj=_tar_stream(data[off:off + size], name, path),
                          mode="r|") as tf:
            for m in tf:
                if m.isfile() and m.name.removeprefix("./") == "control":
                    f = tf.extractfile(m)
                    return f.read(1 << 20) if f else None
        return None

    try:
        control = _tar_errors(path, name, read)
    except BtfError:
        return {}
    fields: dict[str, str] = {}
    for found in re.finditer(r"^([\w-]+):[ \t]*(.*)$",
                             (control or b"").decode("utf-8", "replace"), re.M):
        fields.setdefault(found.group(1), found.group(2).strip())
    return fields


def _from_deb(data: bytes, path: str, depth: int) -> bytes:
    members = _ar_members(data, path)
    if "debian-binary" not in members:
        raise BtfError("ar archive is not a Debian package (no debian-binary member)", path)
    member = next((m for m in members if m.startswith("data.tar")), None)
    if member is None:
        raise BtfError(f"Debian package has no data.tar member (members: "
                       f"{', '.join(members)})", path)
    off, size = members[member]
    seen: list[str] = []
    links: list[str] = []
    nfiles = 0

    def scan() -> bytes | None:
        nonlocal nfiles
        with tarfile.open(fileobj=_tar_stream(data[off:off + size], member, path),
                          mode="r|") as tf:
            for m in tf:
                name = m.name.removeprefix("./")
                if m.isdir():
                    continue
                nfiles += 1
                if KERNEL_IMAGE_RE.search(name):
                    if m.isfile():
                        f = tf.extractfile(m)
                        if f is None:  # pragma: no cover - regular files always have data
                            continue
                        image = f.read(MAX_DECOMPRESSED + 1)
                        if len(image) > MAX_DECOMPRESSED:
                            raise BtfError(f"{name} in the package is larger than "
                                           f"{MAX_DECOMPRESSED} bytes", path)
                        return _extract(image, path, name, depth + 1)
                    links.append(f"{name} -> {m.linkname}")
                elif "boot/" in name and len(seen) < 6:
                    seen.append(name)
        return None

    btf = _tar_errors(path, member, scan)
    if btf is not None:
        return btf
    control = _package_control(data, members, path)
    pkg = control.get("Package")
    held = f"package {pkg}" if pkg else "the package"
    detail = [f"{nfiles} files"]
    if links:
        detail.append("only links: " + ", ".join(links[:3]))
    if seen:
        detail.append("boot files: " + ", ".join(seen))
    hint = ""
    depends = [d.strip() for d in control.get("Depends", "").split(",")
               if d.strip().startswith(("linux-image-", "linux-signed-"))]
    if pkg and pkg.startswith(("linux-modules", "linux-headers", "linux-tools", "linux-doc")):
        hint = "; the kernel image is in the matching linux-image-* package"
    elif pkg and pkg.startswith("linux-image") and not seen and depends:
        hint = (f"; this looks like a metapackage, the kernel is in the package it depends on: "
                f"{', '.join(depends[:3])}")
    elif pkg and "unsigned" not in pkg and pkg.startswith("linux-image"):
        hint = ("; on Ubuntu the unsigned kernel may be in linux-image-unsigned-* and the "
                "modules in linux-modules-*")
    raise BtfError(f"no kernel image (boot/vmlinuz-* or boot/vmlinux-*) in {held} "
                   f"({'; '.join(detail)}){hint}", path)
