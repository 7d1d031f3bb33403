"""The language server's state for its one client, apart from the protocol.

A :class:`Session` holds the open documents, the merged settings, the current
:class:`KernelSet` and the *generations* that change with them, the facts the client gave at
initialize, the state of the kernel load under way, the worker threads, and the caches. The
pygls server owns one and does the talking; the handlers, the diagnostics manager and the
configuration read and change it on the event loop. A worker thread never touches it: what
it needs is captured in an immutable job first (:meth:`Session.analysis_job`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any

from bpfls.lsp import convert
from bpfls.lsp.client import ClientFacts
from bpfls.lsp.documents import Document, Snapshot
from bpfls.lsp.files import FileCache, snapshots_of
from bpfls.lsp.kernelload import KernelCache
from bpfls.lsp.paths import untitled_path
from bpfls.lsp.settings import Settings, merge_settings
from bpfls.lsp.worker import AnalysisJob
from bpfls.project.kernels import Kernel, KernelSet
from bpfls.source.cache import SourceCache

#: a pull client that cannot be told to pull again waits this long for the kernels at start
PULL_KERNEL_WAIT = 15.0


class CompletionLists:
    """The engine's entries of the last few completion lists, by key, for
    completionItem/resolve (which brings the documentation a list left out)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._lists: OrderedDict[str, list] = OrderedDict()
        self._keys = 0

    def new_key(self) -> str:
        """A key for the entries of a completion list about to be computed."""
        self._keys += 1
        key = str(self._keys)
        self._lists[key] = []
        while len(self._lists) > self.size:
            self._lists.popitem(last=False)
        return key

    def store(self, key: str, entries: list) -> None:
        """The entries of list ``key``, unless newer lists have pushed it out meanwhile."""
        if key in self._lists:
            self._lists[key] = entries

    def get(self, key: Any) -> list | None:
        return self._lists.get(key)


class Session:
    """See the module doc. A session is read and changed on the event loop only; worker
    threads get what they need captured (and the file and kernel caches, which are
    thread-safe)."""

    def __init__(self) -> None:
        # -- the client -------------------------------------------------------------------
        self.client = ClientFacts()
        #: engine diagnostics → protocol diagnostics, shaped by the client's capabilities
        self.converter = convert.DiagnosticConverter()

        # -- documents, settings, kernels -------------------------------------------------
        self.docs: dict[str, Document] = {}
        self.settings: Settings = merge_settings(None, None, None)
        #: didChangeConfiguration's settings (for a client without workspace/configuration)
        self.pushed_settings: Any = None
        #: swapped whole when kernels load or the configuration changes
        self.kernels: KernelSet = KernelSet((), None)
        #: changes with the settings and with every kernel loaded: results of an older
        #: generation are not current
        self.generation = 0
        #: changes with the settings (and the kernel set), not with kernels of the same set
        self.settings_generation = 0

        # -- the kernel load and the settings being read ----------------------------------
        self.kernel_spec: tuple | None = None  # (kernels, primary) of the current load
        self.load_task: asyncio.Task | None = None
        self.load_done: asyncio.Event | None = None
        self.primary_done = False
        self.config_task: asyncio.Task | None = None
        self.config_dirty = False
        #: the errors already shown (kernel files, settings): each is shown once
        self.shown: set[str] = set()

        # -- threads ----------------------------------------------------------------------
        self.analysis_pool = ThreadPoolExecutor(1, thread_name_prefix="bpfls-analysis")
        self.request_pool = ThreadPoolExecutor(2, thread_name_prefix="bpfls-request")
        self.kernel_pool = ThreadPoolExecutor(2, thread_name_prefix="bpfls-kernels")
        #: a compile's steps in Python (the command, judging the object): never in the way
        #: of the analyses or the requests
        self.compile_pool = ThreadPoolExecutor(1, thread_name_prefix="bpfls-compile")

        # -- caches -----------------------------------------------------------------------
        #: files on disk that answers point into
        self.files = FileCache()
        #: the last completion lists, for completionItem/resolve
        self.completions = CompletionLists()
        #: loaded kernels by file, reused by the next configuration
        self.kernel_cache = KernelCache()
        #: what the engine keeps from one analysis of a file for the next (parse trees, each
        #: function's relocations); it goes to the worker in the job analysis_job() makes
        self.source_cache = SourceCache()

    def initialize(self, client: ClientFacts) -> None:
        self.client = client
        self.converter = convert.DiagnosticConverter(
            related_information=client.related_information, tags=client.diagnostic_tags)

    def close(self) -> None:
        if self.load_task is not None:
            self.load_task.cancel()
        for pool in (self.analysis_pool, self.request_pool, self.kernel_pool,
                     self.compile_pool):
            pool.shutdown(wait=False, cancel_futures=True)

    # -- documents ------------------------------------------------------------------------

    def engine_path(self, doc: Document) -> str:
        """The file the engine analyses for ``doc`` (an untitled one gets one in the root)."""
        return doc.path if doc.path is not None else untitled_path(doc.uri, self.client.root)

    def analysis_job(self, doc: Document) -> AnalysisJob:
        """What the analysis of ``doc`` reads, captured now: the one place an analysis is
        handed the session's state."""
        overlays = {d.path: d.text for d in self.docs.values()
                    if d is not doc and d.path is not None}
        return AnalysisJob(doc.uri, self.engine_path(doc), doc.snapshot(), self.kernels,
                           self.settings.config, MappingProxyType(overlays),
                           self.client.encoding, self.generation, self.settings_generation,
                           self.files, self.source_cache)

    def snapshot_of(self) -> Callable[[str], Snapshot | None]:
        """path → snapshot, usable from a worker thread (see :func:`files.snapshots_of`)."""
        return snapshots_of(self.docs.values(), self.files, self.client.encoding)

    # -- kernels --------------------------------------------------------------------------

    def new_generation(self, more_kernels: bool = False) -> None:
        """Settings or kernels changed (``more_kernels``: only kernels of the current set
        finished loading): results computed before are no longer current."""
        self.generation += 1
        if not more_kernels:
            self.settings_generation += 1

    def ready_for_analysis(self) -> bool:
        """Analysis waits for the primary kernel (the base of the program's types), or for
        the end of loading when there is no primary or it failed."""
        return self.primary_done or (self.load_done is not None and self.load_done.is_set())

    async def wait_kernels_for_pull(self) -> None:
        """A pull client that cannot be asked to pull again (no refresh support) gets its
        first reports once the kernels are in, not a partial one it would keep."""
        if self.client.diagnostic_refresh:
            return
        # The first pull usually comes before the settings are read and loading starts, and
        # a new configuration replaces the load under way: follow whichever load is current.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PULL_KERNEL_WAIT
        while (left := deadline - loop.time()) > 0:
            done = self.load_done
            if done is not None and done.is_set():
                return
            try:
                if done is None:
                    await asyncio.sleep(min(0.02, left))
                else:
                    await asyncio.wait_for(done.wait(), min(0.25, left))
            except TimeoutError:
                pass

    def kernel_listing(self) -> tuple[KernelSet, frozenset[str]]:
        """Every configured kernel (loaded, failed or still loading) and the names of those
        still loading."""
        cfg = self.settings.config
        have = {k.name: k for k in self.kernels}
        out, loading = [], set()
        for spec in cfg.kernels:
            k = have.get(spec.name)
            if k is None:
                k = Kernel(spec.name, spec.path, None, None)
                loading.add(spec.name)
            out.append(k)
        return KernelSet(tuple(out), cfg.primary, cfg.primary_default), frozenset(loading)
