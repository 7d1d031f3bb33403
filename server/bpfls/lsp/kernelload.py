"""Loading the configured kernels in the background, one at a time, for the server.

The primary kernel (and the bases it builds on) loads first: analysis needs it as the base of
the program's types. The others follow in parallel threads; after each one the caller gets a
new :class:`KernelSet` with the kernels loaded so far, which it swaps in. Kernels loaded for an
earlier configuration are reused when their file has not changed.

Pure Python: the caller turns the callbacks into progress reports and messages.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor

from bpfls.btf import BtfError, load
from bpfls.project.config import Config, KernelSpec
from bpfls.project.kernels import Kernel, KernelSet


def _file_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class KernelCache:
    """Loaded kernels by file identity (path, size, mtime) and base; thread-safe."""

    def __init__(self) -> None:
        self._items: dict[tuple, Kernel] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(spec: KernelSpec, base: Kernel | None) -> tuple | None:
        fk = _file_key(spec.path)
        if fk is None:
            return None
        return spec.path, fk, id(base.btf) if base is not None else None

    def get(self, spec: KernelSpec, base: Kernel | None) -> Kernel | None:
        if spec.base is not None and (base is None or base.btf is None):
            return None
        key = self._key(spec, base)
        if key is None:
            return None
        with self._lock:
            hit = self._items.get(key)
        return Kernel(spec.name, spec.path, hit.btf) if hit is not None else None

    def load(self, spec: KernelSpec, base: Kernel | None) -> Kernel:
        """Load one kernel (in a worker thread); never raises."""
        if spec.base is not None and (base is None or base.btf is None):
            return Kernel(spec.name, spec.path, None,
                          f"{spec.path}: base kernel {spec.base!r} did not load")
        hit = self.get(spec, base)
        if hit is not None:
            return hit
        key = self._key(spec, base)
        try:
            k = Kernel(spec.name, spec.path,
                       load(spec.path, base=base.btf if base is not None else None))
        except BtfError as e:
            return Kernel(spec.name, spec.path, None, str(e))
        except Exception as e:  # noqa: BLE001 - one bad kernel never takes the others down
            return Kernel(spec.name, spec.path, None, f"{spec.path}: cannot load: {e}")
        if key is not None:
            with self._lock:
                self._items[key] = k
        return k

    def retain(self, kernels: KernelSet) -> None:
        """Forget the kernels the current set no longer uses."""
        keep = {id(k.btf) for k in kernels if k.btf is not None}
        with self._lock:
            self._items = {key: k for key, k in self._items.items() if id(k.btf) in keep}


def load_order(cfg: Config) -> tuple[list[KernelSpec], list[KernelSpec], list[KernelSpec]]:
    """(the primary and its bases, bases first; the other plain kernels; the other split
    kernels in declaration order)."""
    by_name = {k.name: k for k in cfg.kernels}
    first: list[KernelSpec] = []
    name = cfg.primary
    while name is not None and name in by_name and by_name[name] not in first:
        first.insert(0, by_name[name])
        name = by_name[name].base
    rest = [k for k in cfg.kernels if k not in first]
    return first, [k for k in rest if k.base is None], [k for k in rest if k.base is not None]


async def load_in_background(
        cfg: Config, cache: KernelCache, executor: Executor,
        on_kernel: Callable[[Kernel, KernelSet, int, int], Awaitable[None] | None]) -> KernelSet:
    """Load ``cfg``'s kernels; after each, call ``on_kernel(kernel, kernels so far, done,
    total)``. Returns the complete set. Cancelling the task abandons the rest."""
    loop = asyncio.get_running_loop()
    loaded: dict[str, Kernel] = {}
    total = len(cfg.kernels)

    def current() -> KernelSet:
        return KernelSet(tuple(loaded[k.name] for k in cfg.kernels if k.name in loaded),
                         cfg.primary, cfg.primary_default)

    async def finish(k: Kernel) -> None:
        loaded[k.name] = k
        res = on_kernel(k, current(), len(loaded), total)
        if asyncio.iscoroutine(res):
            await res

    def base_of(spec: KernelSpec) -> Kernel | None:
        return loaded.get(spec.base) if spec.base is not None else None

    first, plain, split = load_order(cfg)
    for spec in first:  # the primary first: analysis waits for it
        base = base_of(spec)
        hit = cache.get(spec, base)  # loaded for an earlier configuration
        await finish(hit or await loop.run_in_executor(executor, cache.load, spec, base))
    pending = []
    for spec in plain:
        hit = cache.get(spec, None)
        if hit is not None:
            await finish(hit)
        else:
            pending.append(loop.run_in_executor(executor, cache.load, spec, None))
    for fut in asyncio.as_completed(pending):
        await finish(await fut)
    for spec in split:
        await finish(await loop.run_in_executor(executor, cache.load, spec, base_of(spec)))
    return current()
