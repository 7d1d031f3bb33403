"""The configured kernels, loaded: one immutable :class:`KernelSet` shared by all documents.

A kernel whose file is missing or corrupt is kept with its error (reported once by the caller);
the others load and are used.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from bpfls.btf import Btf, BtfError, load
from bpfls.project.config import Config, KernelSpec


@dataclass(frozen=True)
class Kernel:
    name: str
    path: str
    btf: Btf | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.btf is not None


@dataclass(frozen=True)
class KernelSet:
    """The configured kernels. ``primary``: the kernel whose BTF is the base of a program's
    types; ``primary_default``: it is a default, which a program's ``vmlinux.h`` overrides
    (:meth:`for_program`)."""

    kernels: tuple[Kernel, ...]
    primary: str | None
    primary_default: bool = False

    def __iter__(self) -> Iterator[Kernel]:
        return iter(self.kernels)

    @property
    def loaded(self) -> tuple[Kernel, ...]:
        return tuple(k for k in self.kernels if k.ok)

    @property
    def failed(self) -> tuple[Kernel, ...]:
        return tuple(k for k in self.kernels if not k.ok)

    def get(self, name: str) -> Kernel | None:
        for k in self.kernels:
            if k.name == name:
                return k
        return None

    @property
    def primary_btf(self) -> Btf | None:
        k = self.get(self.primary) if self.primary else None
        return k.btf if k else None

    def for_program(self, vmlinux_kernel: str | None) -> KernelSet:
        """The kernels as one program sees them: the primary is the configured kernel its
        ``vmlinux.h`` is the dump of (``vmlinux_kernel``), unless a primary was chosen."""
        if vmlinux_kernel is None or vmlinux_kernel == self.primary:
            return self
        if self.primary is not None and not self.primary_default:
            return self
        k = self.get(vmlinux_kernel)
        if k is None or not k.ok:
            return self
        return replace(self, primary=vmlinux_kernel, primary_default=False)


def _load_one(spec: KernelSpec, bases: dict[str, Kernel]) -> Kernel:
    base = None
    if spec.base is not None:
        b = bases.get(spec.base)
        if b is None or b.btf is None:
            return Kernel(spec.name, spec.path, None,
                          f"{spec.path}: base kernel {spec.base!r} did not load")
        base = b.btf
    try:
        return Kernel(spec.name, spec.path, load(spec.path, base=base))
    except BtfError as e:
        return Kernel(spec.name, spec.path, None, str(e))
    except Exception as e:  # never let one kernel take the others down
        return Kernel(spec.name, spec.path, None, f"{spec.path}: cannot load: {e}")


def load_kernels(cfg: Config, workers: int = 4) -> KernelSet:
    """Load every configured kernel (bases first; decompression runs in parallel threads)."""
    plain = [k for k in cfg.kernels if k.base is None]
    split = [k for k in cfg.kernels if k.base is not None]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = dict(zip([k.name for k in plain],
                          pool.map(lambda s: _load_one(s, {}), plain), strict=True))
    for spec in split:  # bases of bases resolve in declaration order
        loaded[spec.name] = _load_one(spec, loaded)
    ordered = tuple(loaded[k.name] for k in cfg.kernels)
    return KernelSet(ordered, cfg.primary, cfg.primary_default)


def guess_arch(btf: Btf | None) -> str | None:
    """The ``__TARGET_ARCH_*`` name a kernel's BTF was built for (its ``struct pt_regs``)."""
    if btf is None:
        return None
    if btf.find("user_pt_regs", "struct") is not None:
        return "arm64"
    regs = btf.find("pt_regs", "struct")
    if regs is None:
        return None
    names = {m.name for m in regs.members}
    if "di" in names:
        return "x86"
    if "gprs" in names:
        return "s390"
    if "gpr" in names:
        return "powerpc"
    return None
