#!/usr/bin/env python3
"""`bpfls serve` figures, and clangd's on the same program when clangd is installed.

    python bench/lsp_bench.py [--lines 2000] [--requests 200] [--edits 40] [--no-clangd]
                              [--compile-lines 1000] [--saves 5]

A client drives the server over stdio (VS Code's defaults: UTF-16 positions, pushed
diagnostics) on a generated BPF C program, with four kernels: the three amd64 sample kernels
plus the running kernel (``host``) when it exposes BTF, else the fourth sample kernel.

1. Start-up (``compile = "never"``, as in 2): from spawning the process to the first
   diagnostics (the program is opened right after ``initialized``; the first diagnostics
   come once the primary kernel is in), and to the diagnostics of all four kernels.
2. Steady state (kernels loaded): didOpen → first diagnostics; hover and completion latency
   over ``--requests`` requests each at varied positions; didChange → publishDiagnostics over
   ``--edits`` one-character edits, each after the previous diagnostics (the first keystroke
   after a pause, analysed after a 10 ms delay; a burst of typing is debounced by 120 ms);
   the server's peak RSS (VmHWM).
3. Compile on save (``compile = "always"``, when clang with the BPF target is on PATH), on a
   ``--compile-lines`` program: didSave → the diagnostics judged from clang's object, over
   ``--saves`` saves (each of a new text, after its predicted diagnostics); hover latency
   while those compiles run (requests sent one after the other from the save until the
   compiled diagnostics arrive) and, the same positions, with no compile running.
4. clangd on the same program with a vmlinux.h of the primary kernel and
   ``-target bpf``: the same figures as 1 and 2.

The kernels' index cache is warmed first (as every run after the first finds it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from lsprotocol import types as lsp  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from bpfls.lsp.diagnostics import FIRST_EDIT_DELAY  # noqa: E402
from bpfls.project.compiler import find_clang  # noqa: E402

SAMPLE = ROOT / "sample-btf"
PRIMARY = "6.12-amd64"
HOST = "/sys/kernel/btf/vmlinux"

HEAD = """\
// Generated for bench/lsp_bench.py
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { volatile long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
    if (bpf_core_field_exists(((struct task_struct___x *)t)->__state))
        return BPF_CORE_READ((struct task_struct___x *)t, __state);
    return BPF_CORE_READ((struct task_struct___o *)t, state);
}
"""

BLOCK = """
SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(prog_{i}, int dfd, struct filename *name)
{{
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    int ppid = BPF_CORE_READ(task, real_parent, tgid);
    int pid = task->pid;
    const char *fname = BPF_CORE_READ(name, name);
    struct mm_struct *mm = task->mm;
    unsigned long start = 0;
    if (bpf_core_field_exists(mm->start_stack))
        start = BPF_CORE_READ(mm, start_stack);
    long st = {state};
    bpf_printk("%d %d %s", ppid, pid, fname);
    bpf_printk("%lu %ld", start, st);
    return 0;
}}
"""


def program(lines: int) -> str:
    parts = [HEAD]
    n = HEAD.count("\n")
    i = 0
    while n + BLOCK.count("\n") + 2 <= lines:
        state = ("BPF_CORE_READ((struct task_struct___o *)task, state)" if i % 10 == 9
                 else "task_state(task)")
        parts.append(BLOCK.format(i=i, state=state))
        n += BLOCK.count("\n")
        i += 1
    parts.append('\nchar LICENSE[] SEC("license") = "GPL";\n')
    text = "".join(parts)
    return text + "\n" * max(lines - text.count("\n"), 0)


def kernels() -> list[dict]:
    names = ["5.10-amd64", "6.1-amd64", "6.12-amd64"]
    out = [{"name": n, "path": str(SAMPLE / f"{n}.btf.xz")} for n in names]
    if Path(HOST).exists():
        out.append({"name": "host", "path": HOST})
    else:
        out.append({"name": "6.12-arm64", "path": str(SAMPLE / "6.12-arm64.btf.xz")})
    return out


CAPS = lsp.ClientCapabilities(
    general=lsp.GeneralClientCapabilities(position_encodings=[lsp.PositionEncodingKind.Utf16]),
    window=lsp.WindowClientCapabilities(work_done_progress=True),
    workspace=lsp.WorkspaceClientCapabilities(configuration=False),
    text_document=lsp.TextDocumentClientCapabilities(
        publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(
            related_information=True, version_support=True),
        hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown]),
        completion=lsp.CompletionClientCapabilities(
            completion_item=lsp.ClientCompletionItemOptions(
                documentation_format=[lsp.MarkupKind.Markdown],
                resolve_support=lsp.ClientCompletionItemResolveOptions(
                    properties=["documentation", "detail"])),
            completion_list=lsp.CompletionListCapabilities(
                item_defaults=["editRange", "insertTextFormat", "data"])),
        synchronization=lsp.TextDocumentSyncClientCapabilities(did_save=True)))


class Bench:
    """One server process driven over stdio."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.client = LanguageClient("lsp-bench", "1")
        self.published: dict[str, list[tuple[float, int | None, int]]] = {}
        self.event = asyncio.Event()
        self.progress_end: float | None = None
        self.pid = 0
        c = self.client

        #: uri → [(time, version)] of the diagnostics judged from clang's object
        self.compiled: dict[str, list[tuple[float, int | None]]] = {}

        @c.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _published(ls, params: lsp.PublishDiagnosticsParams) -> None:
            t = time.perf_counter()
            self.published.setdefault(params.uri, []).append(
                (t, params.version, len(params.diagnostics)))
            data = params.diagnostics[0].data if params.diagnostics else None
            if isinstance(data, dict) and data.get("source") == "compiled":
                self.compiled.setdefault(params.uri, []).append((t, params.version))
            self.event.set()

        @c.feature(lsp.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def _create(ls, params) -> None:
            return None

        @c.feature(lsp.PROGRESS)
        def _progress(ls, params: lsp.ProgressParams) -> None:
            if isinstance(params.value, dict) and params.value.get("kind") == "end":
                self.progress_end = time.perf_counter()
                self.event.set()

        self.analysed: list[float] = []
        self.server_times: dict[str, list[float]] = {}

        @c.feature(lsp.WINDOW_LOG_MESSAGE)
        def _log(ls, params) -> None:
            m = re.match(r"analysed .* in ([\d.]+) ms", params.message)
            if m:
                self.analysed.append(float(m.group(1)) / 1000)
            m = re.match(r"(completion|hover) in ([\d.]+) ms", params.message)
            if m:
                self.server_times.setdefault(m.group(1), []).append(float(m.group(2)) / 1000)

        @c.feature(lsp.WINDOW_SHOW_MESSAGE)
        def _show(ls, params) -> None:
            print(f"  [{name}] {params.message}", file=sys.stderr)

    async def start(self, cmd: list[str], cwd: Path, init_options: dict | None,
                    root: Path, env: dict | None = None) -> float:
        t0 = time.perf_counter()
        await self.client.start_io(*cmd, cwd=str(cwd), env=env)
        self.pid = self.client._server.pid
        await self.client.initialize_async(lsp.InitializeParams(
            capabilities=CAPS, initialization_options=init_options, root_uri=root.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(root.as_uri(), root.name)]))
        self.client.initialized(lsp.InitializedParams())
        return t0

    async def wait(self, cond, timeout: float = 120.0):
        deadline = time.perf_counter() + timeout
        while not (value := cond()):
            self.event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: timed out")
            try:
                await asyncio.wait_for(self.event.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return value

    def open(self, uri: str, text: str, version: int = 1) -> float:
        t = time.perf_counter()
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(uri, "c", version, text)))
        return t

    async def first_publish(self, uri: str, after: float, nonempty: bool = False) -> float:
        def found():
            for t, _, n in self.published.get(uri, []):
                if t >= after and (n or not nonempty):
                    return t
            return None
        return await self.wait(found)

    async def latencies(self, make, positions) -> list[float]:
        """Round trips as this client sees them (its own garbage collector held off, so its
        pauses are not counted against the server)."""
        out = []
        gc.collect()
        gc.disable()
        try:
            for pos in positions:
                t = time.perf_counter()
                await make(pos)
                out.append(time.perf_counter() - t)
        finally:
            gc.enable()
        return out

    def edit_line(self, uri: str, lines: list[str], line: int, version: int) -> None:
        """A space typed at the end of ``line`` (``lines`` follows)."""
        col = len(lines[line])
        lines[line] += " "
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [lsp.TextDocumentContentChangePartial(
                lsp.Range(lsp.Position(line, col), lsp.Position(line, col)), " ")]))

    async def edits(self, uri: str, text: str, count: int) -> list[float]:
        lines = text.split("\n")
        body = [i for i, ln in enumerate(lines) if ln.strip().startswith("bpf_printk")]
        rng = random.Random(2)
        out = []
        version = 1
        for _ in range(count):
            line = rng.choice(body)
            version += 1
            t = time.perf_counter()
            self.edit_line(uri, lines, line, version)
            v = version

            def done(v=v):
                return any(ver == v for _, ver, _ in self.published.get(uri, []))
            got = await self.wait(done, 30)
            assert got
            tp = next(t2 for t2, ver, _ in self.published[uri] if ver == v)
            out.append(tp - t)
        return out

    def peak_rss_mb(self) -> float:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return float("nan")
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(m.group(1)) / 1024 if m else float("nan")

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
        except Exception:  # noqa: BLE001
            pass
        await self.client.stop()


def positions(text: str, count: int, seed: int) -> tuple[list, list]:
    """Hover positions (inside identifiers) and completion positions (after `->`, after
    `BPF_CORE_READ(x, ` and inside a member name)."""
    hovers, completions = [], []
    for i, line in enumerate(text.split("\n")):
        for m in re.finditer(r"[A-Za-z_]\w*", line):
            hovers.append(lsp.Position(i, m.start() + len(m.group()) // 2))
        for m in re.finditer(r"->|BPF_CORE_READ\(\w+, ", line):
            completions.append(lsp.Position(i, m.end()))
        for m in re.finditer(r"->(\w+)", line):
            completions.append(lsp.Position(i, m.start(1) + max(len(m.group(1)) // 2, 1)))
    rng = random.Random(seed)
    return rng.sample(hovers, min(count, len(hovers))), \
        rng.sample(completions, min(count, len(completions)))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def ms(x: float) -> str:
    return f"{x * 1000:7.1f} ms"


async def startup(name: str, cmd: list[str], init: dict | None, work: Path, text: str,
                  waits_all: bool, env: dict | None = None) -> tuple[float, float | None]:
    """Process start → first diagnostics (and → the diagnostics once every kernel is in)."""
    b = Bench(name)
    uri = (work / "prog.bpf.c").as_uri()
    t0 = await b.start(cmd, work, init, work, env)
    b.open(uri, text)
    first = await b.first_publish(uri, t0) - t0
    every = None
    if waits_all:  # the last publication once every kernel is in and the server is idle
        await b.wait(lambda: b.progress_end)
        await b.first_publish(uri, b.progress_end)
        await asyncio.sleep(1.0)
        every = b.published[uri][-1][0] - t0
    await b.stop()
    return first, every


async def measure(name: str, cmd: list[str], init: dict | None, work: Path, text: str,
                  args, startup_waits_all: bool) -> dict:
    res: dict = {}
    if init is not None:  # the figures of the prediction alone (compiles: compile_figures)
        init = {**init, "compile": "never"}
    # 1. start-up
    res["start_first"], every = await startup(name, cmd, init, work, text, startup_waits_all)
    if every is not None:
        res["start_all"] = every
    if startup_waits_all:
        with tempfile.TemporaryDirectory(prefix="lsp-bench-cache-") as cache:
            cold = dict(os.environ, BPFLS_CACHE_DIR=cache)
            res["cold_first"], res["cold_all"] = await startup(name, cmd, init, work, text,
                                                               True, cold)

    # 2. steady state
    b = Bench(name)
    await b.start(cmd, work, init, work)
    if startup_waits_all:
        await b.wait(lambda: b.progress_end)
    await asyncio.sleep(1.0)  # idle: the server has finished what it does after loading
    uri = (work / "steady.bpf.c").as_uri()
    t = b.open(uri, text)
    res["open_first"] = await b.first_publish(uri, t) - t
    await asyncio.sleep(0.1)  # the log line of that analysis
    if b.analysed:
        res["open_analysis"] = b.analysed[-1]
    ident = lsp.TextDocumentIdentifier(uri)
    hp, cp = positions(text, args.requests, 1)
    await b.latencies(lambda p: b.client.text_document_hover_async(
        lsp.HoverParams(ident, p)), hp[:10])  # first use of each code path
    res["hover"] = await b.latencies(lambda p: b.client.text_document_hover_async(
        lsp.HoverParams(ident, p)), hp)
    res["completion"] = await b.latencies(lambda p: b.client.text_document_completion_async(
        lsp.CompletionParams(ident, p)), cp)
    res["server"] = b.server_times
    res["edit"] = await b.edits(uri, text, args.edits)
    res["rss"] = b.peak_rss_mb()
    await b.stop()
    return res


async def compile_figures(cmd: list[str], init: dict, work: Path, text: str, args) -> dict:
    """didSave → compiled diagnostics, and hover latency while a compile runs and without."""
    b = Bench("bpfls serve (compile)")
    await b.start(cmd, work, {**init, "compile": "always"}, work)
    await b.wait(lambda: b.progress_end)
    uri = (work / "compiled.bpf.c").as_uri()
    ident = lsp.TextDocumentIdentifier(uri)
    await b.first_publish(uri, b.open(uri, text))
    lines = text.split("\n")
    body = [i for i, ln in enumerate(lines) if ln.strip().startswith("bpf_printk")]
    hp, _ = positions(text, args.requests, 3)
    version = 1

    def compiled(v: int) -> float | None:
        return next((t for t, ver in b.compiled.get(uri, []) if ver == v), None)

    async def hover(pos) -> None:
        await b.client.text_document_hover_async(lsp.HoverParams(ident, pos))

    async def save(hovers: list[float] | None) -> float:
        """A new text, its predicted diagnostics, then didSave → compiled diagnostics (with
        hovers sent meanwhile)."""
        nonlocal version
        version += 1
        b.edit_line(uri, lines, body[version % len(body)], version)
        await b.wait(lambda v=version: any(ver == v for _, ver, _ in b.published.get(uri, [])))
        t = time.perf_counter()
        b.client.text_document_did_save(lsp.DidSaveTextDocumentParams(ident))
        if hovers is not None:
            gc.disable()
            try:
                i = 0
                while compiled(version) is None:
                    t1 = time.perf_counter()
                    await hover(hp[i % len(hp)])
                    hovers.append(time.perf_counter() - t1)
                    i += 1
            finally:
                gc.enable()
        return await b.wait(lambda v=version: compiled(v), 120) - t

    res: dict = {"first_save": await save(None)}  # finds clang, writes vmlinux.h
    res["save"] = [await save(None) for _ in range(args.saves)]
    await b.latencies(hover, hp[:10])
    res["hover_compiling"] = []
    for _ in range(args.saves):
        await save(res["hover_compiling"])
    res["hover_idle"] = await b.latencies(hover, hp)
    res["lines"] = text.count("\n")
    await b.stop()
    return res


def report_compile(r: dict) -> None:
    print(f"compile on save ({r['lines']}-line program, clang with the BPF target):")
    print(f"  didSave -> compiled diagnostics      p50 {ms(pct(r['save'], 50))}  "
          f"(first save {ms(r['first_save']).strip()}; {len(r['save'])} saves)")
    for k, what in (("hover_compiling", "while compiling"), ("hover_idle", "no compile")):
        xs = r[k]
        print(f"  hover {what:<16} p50 {ms(pct(xs, 50))}  p99 {ms(pct(xs, 99))}  "
              f"({len(xs)} requests)")


def report(name: str, r: dict, debounce: float | None) -> None:
    print(f"{name}:")
    print(f"  process start -> first diagnostics   {ms(r['start_first'])}")
    if "start_all" in r:
        print(f"  process start -> all 4 kernels' diagnostics {ms(r['start_all'])}")
    if "cold_first" in r:
        print(f"  the same with an empty kernel cache: {ms(r['cold_first']).strip()}, "
              f"{ms(r['cold_all']).strip()} (first run on a machine)")
    print(f"  didOpen -> first diagnostics         {ms(r['open_first'])}"
          + (f"  (analysis {ms(r['open_analysis']).strip()})" if "open_analysis" in r else ""))
    for k in ("hover", "completion"):
        xs = r[k]
        print(f"  {k:<10} p50 {ms(pct(xs, 50))}  p99 {ms(pct(xs, 99))}  ({len(xs)} requests)")
    xs = r["edit"]
    print(f"  didChange -> publishDiagnostics p50 {ms(pct(xs, 50))}  p99 {ms(pct(xs, 99))}"
          f"  ({len(xs)} edits{', delay included' if debounce else ''})")
    if debounce:
        ys = [x - debounce for x in xs]
        print(f"    without the {debounce * 1000:.0f} ms delay of an edit after a pause: "
              f"p50 {ms(pct(ys, 50))}  "
              f"p99 {ms(pct(ys, 99))}")
    if os.environ.get("LSP_BENCH_TAILS"):
        for k in ("hover", "completion", "edit"):
            print(f"    slowest {k}: {', '.join(ms(x).strip() for x in sorted(r[k])[-6:])}")
        for k, xs in r.get("server", {}).items():
            print(f"    slowest {k} in the server: "
                  f"{', '.join(ms(x).strip() for x in sorted(xs)[-6:])}")
    print(f"  peak RSS (VmHWM)                     {r['rss']:7.1f} MB")


async def amain(args) -> None:
    text = program(args.lines)
    ks = kernels()
    init = {"kernels": ks, "primary": PRIMARY, "defines": ["__TARGET_ARCH_x86"],
            "trace": "verbose" if os.environ.get("LSP_BENCH_TAILS") else "off"}
    print(f"{text.count(chr(10))}-line program; kernels: {', '.join(k['name'] for k in ks)}; "
          f"primary {PRIMARY}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="lsp-bench-") as tmp:
        work = Path(tmp)
        (work / "prog.bpf.c").write_text(text)
        (work / "steady.bpf.c").write_text(text)
        cmd = [sys.executable, "-m", "bpfls", "serve"]
        # warm the kernels' index cache (as every run after the first finds it)
        warm = Bench("warm-up")
        await warm.start(cmd, work, init, work)
        await warm.wait(lambda: warm.progress_end)
        await warm.stop()
        ours = await measure("bpfls serve", cmd, init, work, text, args, True)
        report("bpfls serve", ours, FIRST_EDIT_DELAY)
        if find_clang() is None:
            print("compile on save: skipped (no clang with the BPF target on PATH)")
        else:
            report_compile(await compile_figures(cmd, init, work, program(args.compile_lines),
                                                 args))

        clangd = shutil.which("clangd")
        if args.no_clangd or clangd is None:
            print("clangd: skipped" + ("" if args.no_clangd else " (not installed)"))
            return
        from bpfls.btf import load
        from bpfls.btf.dump_c import dump_c

        (work / "vmlinux.h").write_text(dump_c(load(SAMPLE / f"{PRIMARY}.btf.xz")))
        (work / "compile_flags.txt").write_text(
            "-target\nbpf\n-O2\n-g\n-D__TARGET_ARCH_x86\n-I.\n")
        theirs = await measure("clangd", [clangd, "--background-index=false", "--log=error"],
                               None, work, text, args, False)
        report(f"clangd ({clangd}, vmlinux.h of {PRIMARY})", theirs, None)
        ratio = theirs["open_first"] / ours["open_first"]
        print(f"didOpen -> first diagnostics: bpfls {ratio:.1f}x faster than clangd "
              "(goal >= 10x)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--edits", type=int, default=40)
    ap.add_argument("--no-clangd", action="store_true")
    ap.add_argument("--compile-lines", type=int, default=1000)
    ap.add_argument("--saves", type=int, default=5)
    asyncio.run(amain(ap.parse_args()))


if __name__ == "__main__":
    main()
