"""Helpers for the language-server end-to-end tests: settings, documents, waiting."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-btf"
CLIENTS = ("visual-studio-code", "neovim")
SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "bpfls", "serve"])
PRIMARY = "6.12-amd64"
AMD64 = ("5.10-amd64", "6.1-amd64", "6.12-amd64")


def kernel_list(names=AMD64, extra: dict[str, str] | None = None) -> list[dict]:
    out = [{"name": n, "path": str(SAMPLE / f"{n}.btf.xz")} for n in names]
    for name, path in (extra or {}).items():
        out.append({"name": name, "path": path})
    return out


def settings(names=AMD64, **more) -> dict:
    return {"kernels": kernel_list(names), "primary": PRIMARY,
            "defines": ["__TARGET_ARCH_x86"], **more}


def is_pull(client: LanguageClient) -> bool:
    caps = client.capabilities
    return caps is not None and caps.text_document is not None \
        and caps.text_document.diagnostic is not None


async def start(client: LanguageClient, name: str, init_options: dict | None,
                root: Path = ROOT / "tests") -> lsp.InitializeResult:
    return await client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities(name),
        initialization_options=init_options,
        root_uri=root.as_uri(),
        workspace_folders=[lsp.WorkspaceFolder(root.as_uri(), root.name)]))


async def wait_until(cond: Callable[[], object], timeout: float = 20.0,
                     what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def open_doc(client: LanguageClient, uri: str, text: str, version: int = 1) -> None:
    client.diagnostics.pop(uri, None)  # what an earlier test left
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        lsp.TextDocumentItem(uri=uri, language_id="c", version=version, text=text)))


def close_doc(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(lsp.DidCloseTextDocumentParams(
        lsp.TextDocumentIdentifier(uri)))


def replace_all(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [lsp.TextDocumentContentChangeWholeDocument(text=text)]))


async def diagnostics(client: LanguageClient, uri: str,
                      until: Callable[[list[lsp.Diagnostic]], bool] = lambda d: True,
                      timeout: float = 20.0) -> list[lsp.Diagnostic]:
    """The document's diagnostics once ``until`` holds: pulled (clients that pull) or as
    last pushed."""
    if is_pull(client):
        deadline = time.monotonic() + timeout
        while True:
            rep = await client.text_document_diagnostic_async(lsp.DocumentDiagnosticParams(
                lsp.TextDocumentIdentifier(uri)))
            assert rep.kind == "full"
            items = list(rep.items)
            if until(items):
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"diagnostics never satisfied the test: {items}")
            await asyncio.sleep(0.05)
    got = await wait_until(lambda: uri in client.diagnostics
                           and until(list(client.diagnostics[uri])) and [True],
                           timeout, f"diagnostics of {uri}")
    assert got
    return list(client.diagnostics[uri])


def loads_finished(client: LanguageClient) -> int:
    """How many kernel loads have reported their end."""
    return sum(1 for reports in client.progress_reports.values()
               if any(isinstance(r, lsp.WorkDoneProgressEnd) for r in reports))


def errors_shown(client: LanguageClient) -> list[str]:
    return [m.message for m in client.messages if m.type == lsp.MessageType.Error]


def log_errors(client: LanguageClient) -> list[str]:
    return [m.message for m in client.log_messages if m.type == lsp.MessageType.Error]
