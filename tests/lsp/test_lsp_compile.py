"""Compile on save over the protocol: the predicted diagnostics first, then those judged from
clang's object (``data.source``), a compile killed by typing, clang missing or unable to run.

The programs need clang-16 with the BPF target and libbpf's headers."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from .lspclient import (
    CLIENTS,
    close_doc,
    diagnostics,
    errors_shown,
    loads_finished,
    log_errors,
    open_doc,
    replace_all,
    settings,
    start,
    wait_until,
)
from conftest import IN_CI

pytestmark = [pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]

CLANG = shutil.which("clang-16")
LIBBPF = Path("/usr/include/bpf/bpf_helpers.h")


@pytest.fixture(autouse=True)
def needs_clang():
    if CLANG is None or not LIBBPF.exists():
        if IN_CI:
            pytest.fail("clang-16 and libbpf's headers are required in CI")
        pytest.skip("needs clang-16 and libbpf's headers (apt-get install clang-16 libbpf-dev)")


PROGRAM = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct task_struct___o { long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    struct task_struct___o *old = (void *)prev;
    long unused = old->state; unused++;  /* clang drops this dead load, bpfls does not */
    unsigned int state = BPF_CORE_READ((struct task_struct___x *)next, __state);
    int ppid = BPF_CORE_READ(next, real_parent, tgid);
    bpf_printk("%u %d", state, ppid);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""
#: where the program reads a member clang does not emit a relocation for (a dead load)
DEAD = (12, PROGRAM.splitlines()[12].index("state"))
READ = (13, PROGRAM.splitlines()[13].index("__state"))
READ_WORD = (13, "__state")


def _missing(diags: list[lsp.Diagnostic]) -> dict[tuple[int, int], str]:
    """field-missing diagnostics: (line, column) → data.source."""
    return {(d.range.start.line, d.range.start.character): d.data["source"]
            for d in diags if d.code == "field-missing"}


def _save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(lsp.DidSaveTextDocumentParams(
        lsp.TextDocumentIdentifier(uri)))


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return path.as_uri()


async def _hover(client: LanguageClient, uri: str, line: int, word: str) -> str:
    """The hover's text on ``word`` of ``line`` (ASCII: the same column in every encoding)."""
    col = PROGRAM.splitlines()[line].index(word) + 1
    h = await client.text_document_hover_async(lsp.HoverParams(
        lsp.TextDocumentIdentifier(uri), lsp.Position(line, col)))
    assert h is not None
    return h.contents.value


async def test_compiled_diagnostics_replace_the_predicted(client: LanguageClient, tmp_path):
    """The prediction flags a load clang drops; once saved, the diagnostics are those of
    clang's object, and hover says which relocations clang emits; an edit brings the
    predicted ones back."""
    uri = _write(tmp_path, "drift.bpf.c", PROGRAM)
    open_doc(client, uri, PROGRAM)
    try:
        diags = await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
        assert _missing(diags) == {DEAD: "predicted", READ: "predicted"}
        assert all(d.data["source"] == "predicted" for d in diags)
        predicted_hover = await _hover(client, uri, 14, "real_parent")
        assert "clang" not in predicted_hover

        _save(client, uri)
        diags = await diagnostics(client, uri, lambda d: _missing(d) == {READ: "compiled"},
                                  timeout=60)
        [d] = [x for x in diags if x.code == "field-missing"]
        assert d.data["kernels"] == ["5.10-amd64"] and "__state" in d.message
        assert all(x.data["source"] == "compiled" for x in diags)

        emits = await _hover(client, uri, 14, "real_parent")
        assert emits.startswith(predicted_hover)
        assert re.search(r"clang emits this relocation \(compiled at \d\d:\d\d:\d\d\)$",
                         emits)
        assert "clang emits this relocation" in await _hover(client, uri, *READ_WORD)
        dropped = await _hover(client, uri, DEAD[0], "state")
        assert re.search(r"not emitted by clang \(compiled at [\d:]+\): the prediction "
                         r"differs", dropped)
        assert "clang" not in await _hover(client, uri, DEAD[0], "old")  # not a CO-RE access

        replace_all(client, uri, PROGRAM + "// edited\n", 2)
        diags = await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
        assert _missing(diags) == {DEAD: "predicted", READ: "predicted"}
        assert await _hover(client, uri, 14, "real_parent") == predicted_hover
    finally:
        close_doc(client, uri)


async def test_clang_rejects_the_program(client: LanguageClient, tmp_path):
    """A program clang rejects keeps its predicted diagnostics, plus clang's first error."""
    text = PROGRAM.replace("    return 0;", "    return no_such_thing;")
    uri = _write(tmp_path, "rejected.bpf.c", text)
    line = 16
    assert "no_such_thing" in text.splitlines()[line]
    open_doc(client, uri, text)
    try:
        await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
        _save(client, uri)
        diags = await diagnostics(client, uri, lambda d: any(x.code == "compile-error"
                                                             for x in d), timeout=60)
        [err] = [d for d in diags if d.code == "compile-error"]
        assert err.range.start.line == line
        assert err.range.start.character == text.splitlines()[line].index("no_such_thing")
        assert "no_such_thing" in err.message and err.message.startswith("clang: ")
        assert err.severity == lsp.DiagnosticSeverity.Error
        assert err.data["source"] == "compiled"
        assert _missing(diags) == {DEAD: "predicted", READ: "predicted"}
    finally:
        close_doc(client, uri)


HEADER = """\
#pragma once
#define READ_OLD_STATE 1
struct task_struct___o { long int state; } __attribute__((preserve_access_index));
struct task_struct___x { unsigned int __state; } __attribute__((preserve_access_index));
"""

INCLUDING = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "common.h"

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    long state = 0;
#if READ_OLD_STATE
    state = BPF_CORE_READ((struct task_struct___o *)prev, state);
#endif
    unsigned int now = BPF_CORE_READ((struct task_struct___x *)next, __state);
    bpf_printk("%ld %u", state, now);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


async def test_saving_a_header_compiles_its_programs_again(client: LanguageClient, tmp_path):
    """The compile reads the headers from the disk: saving one compiles again the open
    programs that include it."""
    old = (11, INCLUDING.splitlines()[11].index("state);"))
    now = (13, INCLUDING.splitlines()[13].index("__state"))
    _write(tmp_path, "common.h", HEADER)
    uri = _write(tmp_path, "prog.bpf.c", INCLUDING)
    header = (tmp_path / "common.h").as_uri()
    open_doc(client, uri, INCLUDING)
    open_doc(client, header, HEADER)
    try:
        await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
        _save(client, uri)
        await diagnostics(client, uri, lambda d: _missing(d) == {old: "compiled",
                                                                 now: "compiled"}, timeout=60)
        edited = HEADER.replace("READ_OLD_STATE 1", "READ_OLD_STATE 0")
        replace_all(client, header, edited, 2)
        (tmp_path / "common.h").write_text(edited)
        _save(client, header)
        await diagnostics(client, uri, lambda d: _missing(d) == {now: "compiled"}, timeout=60)
    finally:
        close_doc(client, header)
        close_doc(client, uri)


# -- servers of their own, with a clang of the test's making ------------------------------------

WRAPPERS = Path(tempfile.mkdtemp(prefix="bpfls-test-clang-"))
SLOW = WRAPPERS / "slow" / "clang"
GONE = WRAPPERS / "gone" / "clang"
BROKEN = WRAPPERS / "broken" / "clang"


def _server(clang: Path) -> ClientServerConfig:
    return ClientServerConfig(server_command=[sys.executable, "-m", "bpfls", "serve"],
                              server_env={**os.environ, "BPFLS_CLANG": str(clang)})


def _script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


async def _started(client: LanguageClient, name: str, init: dict) -> None:
    await start(client, name, init)
    await wait_until(lambda: loads_finished(client), 30, "the kernels to load")


@pytest_lsp.fixture(params=CLIENTS, config=_server(SLOW), loop_scope="session")
async def slow(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    """A server whose clang writes its process id to ``started`` and sleeps 30 s before
    compiling (it answers the questions about its targets at once)."""
    _script(SLOW, f'case " $* " in *" -c "*) echo $$ >> "{SLOW.parent}/started"; sleep 30;; '
                  f'esac\nexec {CLANG} "$@"\n')
    await _started(lsp_client, request.param, settings())
    yield
    await lsp_client.shutdown_session()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _pids() -> list[int]:
    started = SLOW.parent / "started"
    return [int(x) for x in started.read_text().split()] if started.exists() else []


async def test_typing_kills_the_compile(slow: LanguageClient, tmp_path):
    """A compile under way is killed when the text changes (and when the document closes),
    and its result is never shown."""
    client = slow
    uri = _write(tmp_path, "slow.bpf.c", PROGRAM)
    before = len(_pids())
    open_doc(client, uri, PROGRAM)
    await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
    _save(client, uri)
    [pid] = (await wait_until(lambda: _pids()[before:], 20, "clang to start"))
    assert _alive(pid)
    replace_all(client, uri, PROGRAM + "// typing\n", 2)
    await wait_until(lambda: not _alive(pid), 10, "the compile to be killed")
    diags = await diagnostics(client, uri)
    assert all(d.data["source"] == "predicted" for d in diags)
    # left alone, the new text is compiled: closing the document kills that compile too
    [again] = (await wait_until(lambda: _pids()[before + 1:], 20, "the idle compile"))
    close_doc(client, uri)
    await wait_until(lambda: not _alive(again), 10, "the compile to be killed")
    assert not errors_shown(client) and not log_errors(client)


@pytest_lsp.fixture(params=CLIENTS, config=_server(GONE), loop_scope="session")
async def no_clang(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    """A server told to compile always, whose clang does not exist."""
    await _started(lsp_client, request.param, settings(compile="always", trace="verbose"))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(params=CLIENTS, config=_server(BROKEN), loop_scope="session")
async def broken_clang(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    """A server whose clang answers the questions about its targets and then cannot be run
    (it takes its own permission to execute)."""
    _script(BROKEN, f'case " $* " in *" --version "*) chmod -x "$0";; esac\n'
                    f'exec {CLANG} "$@"\n')
    await _started(lsp_client, request.param, settings(trace="verbose"))
    yield
    await lsp_client.shutdown_session()


def _not_compiled(client: LanguageClient) -> int:
    return sum(1 for m in client.log_messages if "is not compiled" in m.message)


async def _said_once(client: LanguageClient, tmp_path: Path, what: str) -> None:
    """Saved three times: the predicted diagnostics stay, and the problem is said once."""
    uri = _write(tmp_path, "prog.bpf.c", PROGRAM)
    open_doc(client, uri, PROGRAM)
    try:
        await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
        for version in (2, 3, 4):
            replace_all(client, uri, PROGRAM + "\n" * version, version)
            await diagnostics(client, uri, lambda d: len(_missing(d)) == 2)
            before = _not_compiled(client)
            _save(client, uri)
            await wait_until(lambda n=before: _not_compiled(client) > n, 20, "the compile")
        diags = await diagnostics(client, uri)
        assert _missing(diags) == {DEAD: "predicted", READ: "predicted"}
    finally:
        close_doc(client, uri)
    [shown] = errors_shown(client)
    assert what in shown and "predicted" in shown


async def test_clang_missing_said_once(no_clang: LanguageClient, tmp_path):
    await _said_once(no_clang, tmp_path, "no clang with the BPF target")


async def test_clang_that_cannot_run_said_once(broken_clang: LanguageClient, tmp_path):
    await _said_once(broken_clang, tmp_path, f"cannot run {BROKEN}")

