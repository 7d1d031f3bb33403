"""Getting BTF bytes out of files: raw BTF, ELF objects and compressed files."""

from __future__ import annotations

import io
import lzma
import os
import zlib
from dataclasses import dataclass
from types import ModuleType

from bpfls.btf.errors import BtfError

#: Decompressed data larger than this is refused (a kernel's BTF is a few MiB; an ELF vmlinux
#: with debug info can be a few hundred).
MAX_DECOMPRESSED = 1 << 30

GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ELF_MAGIC = b"\x7fELF"
BTF_MAGICS = (b"\x9f\xeb", b"\xeb\x9f")


@dataclass
class BtfBlob:
    """Raw BTF bytes plus where they came from."""

    data: bytes | memoryview
    origin: str  # "raw", "elf .BTF", ... with any compression prefixed ("xz, elf .BTF")
    distilled_base: bytes | None = None  # an ELF's .BTF.base section, when it has one
    #: content key of the compressed file ``data`` came from (the index cache's key for it)
    cache_key: str | None = None


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise BtfError("no such file", path) from None
    except IsADirectoryError:
        raise BtfError("is a directory, not a BTF file", path) from None
    except PermissionError:
        raise BtfError("permission denied", path) from None
    except OSError as e:
        raise BtfError(f"cannot read: {e.strerror or e}", path) from None


def compression_of(data: bytes) -> str | None:
    if data.startswith(GZIP_MAGIC):
        return "gzip"
    if data.startswith(XZ_MAGIC):
        return "xz"
    if data.startswith(ZSTD_MAGIC):
        return "zstd"
    return None


def zstandard_module(message: str, path: str) -> ModuleType:
    """The optional ``zstandard`` package; without it, a :class:`BtfError` saying ``message``."""
    try:
        import zstandard  # optional: imported only when zstd data is met
    except ImportError:
        raise BtfError(message, path) from None
    return zstandard


def decompress(data: bytes, path: str, fmt: str, limit: int = MAX_DECOMPRESSED) -> bytes:
    """Decompress a whole gzip/xz/zstd file, refusing output larger than ``limit``."""
    try:
        if fmt == "gzip" or fmt == "xz":
            d = (zlib.decompressobj(16 + zlib.MAX_WBITS) if fmt == "gzip"
                 else lzma.LZMADecompressor())
            out = d.decompress(data, limit + 1)
            if len(out) > limit:
                raise BtfError(f"{fmt} data decompresses to more than {limit} bytes", path)
            if not d.eof:
                raise BtfError(f"truncated {fmt} data", path)
            return out
        if fmt == "zstd":
            zstandard = zstandard_module(
                "zstd-compressed file, but the 'zstandard' package is not installed "
                "(pip install zstandard)", path)
            dctx = zstandard.ZstdDecompressor()
            with dctx.stream_reader(io.BytesIO(data)) as r:
                out = r.read(limit + 1)
            if len(out) > limit:
                raise BtfError(f"zstd data decompresses to more than {limit} bytes", path)
            return out
    except BtfError:
        raise
    except Exception as e:  # zlib.error, lzma.LZMAError, zstandard.ZstdError, EOFError, ...
        raise BtfError(f"corrupt {fmt} data: {e}", path) from None
    raise ValueError(fmt)


def elf_sections(data: bytes, path: str, names: tuple[str, ...]) -> dict[str, bytes]:
    """The contents of the named sections of an ELF file (missing ones are left out)."""
    # pyelftools is heavy and only ELF input needs it: loaded here to keep start-up fast
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        out = {}
        for name in names:
            sec = elf.get_section_by_name(name)
            if sec is None:
                continue
            if sec["sh_type"] == "SHT_NOBITS":
                raise BtfError(f"ELF section {name} has no data (SHT_NOBITS)", path)
            off, size = sec["sh_offset"], sec["sh_size"]
            if off + size > len(data):
                raise BtfError(
                    f"ELF section {name} ({off}+{size}) runs past the end of the file "
                    f"({len(data)} bytes)", path, off)
            out[name] = data[off:off + size]
        return out
    except BtfError:
        raise
    except (ELFError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            AssertionError, OSError) as e:
        raise BtfError(f"malformed ELF file: {e}", path) from None
    except Exception as e:  # construct's StreamError and similar parsing failures
        raise BtfError(f"malformed ELF file: {e}", path) from None


def blob_from_bytes(data: bytes, path: str) -> BtfBlob:
    """Find the BTF in ``data``: raw BTF, an ELF's .BTF section, or either compressed."""
    if not data:
        raise BtfError("empty file", path, 0)
    origin = []
    fmt = compression_of(data)
    if fmt is not None:
        # the on-disk cache (tempfile, mmap) loads only when compressed BTF is read: fast start-up
        from bpfls.btf import cache

        key = cache.content_key(data)
        hit = cache.load_blob(key)
        if hit is not None:
            return BtfBlob(hit, f"{fmt}, raw", cache_key=key)
        data = decompress(data, path, fmt)
        origin.append(fmt)
        if data[:2] in BTF_MAGICS:
            cache.store_blob(key, data)
            return BtfBlob(data, f"{fmt}, raw", cache_key=key)
    if data[:2] in BTF_MAGICS:
        origin.append("raw")
        return BtfBlob(data, ", ".join(origin))
    if data.startswith(ELF_MAGIC):
        secs = elf_sections(data, path, (".BTF", ".BTF.base"))
        if ".BTF" not in secs:
            raise BtfError("ELF file has no .BTF section (built without BTF?)", path)
        origin.append("ELF .BTF")
        return BtfBlob(secs[".BTF"], ", ".join(origin), secs.get(".BTF.base"))
    head = data[:4].hex() or "empty file"
    raise BtfError(f"not BTF: bad magic ({head}); expected raw BTF, an ELF file with a .BTF "
                   "section, or a gzip/xz/zstd-compressed one", path, 0)


def read_blob(path: str | os.PathLike[str]) -> BtfBlob:
    p = os.fspath(path)
    return blob_from_bytes(read_file(p), p)
