"""The server's behaviour around the documents: configuration changes (and storms of them),
bad kernel files, progress, and requests it must survive."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities

from .lspclient import (
    CLIENTS,
    PRIMARY,
    ROOT,
    SERVER,
    close_doc,
    diagnostics,
    errors_shown,
    kernel_list,
    loads_finished,
    log_errors,
    open_doc,
    settings,
    start,
    wait_until,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"),
              pytest.mark.filterwarnings("error::pytest_lsp.LspSpecificationWarning")]

EXAMPLE = ROOT / "examples" / "task_state.bpf.c"


@pytest_lsp.fixture(params=CLIENTS, config=SERVER, loop_scope="session")
async def fresh(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    """A server of its own, initialised by the test (``start(fresh, fresh.name, ...)``)."""
    lsp_client.name = request.param
    yield
    await lsp_client.shutdown_session()


def _missing_on(diags: list[lsp.Diagnostic]) -> list[str] | None:
    found = [d for d in diags if d.code == "field-missing"]
    return found[0].data["kernels"] if found else None


async def test_configuration_changes_diagnostics(fresh: LanguageClient):
    """Kernels from workspace/configuration (initializationOptions leave them unset); a
    storm of didChangeConfiguration is read once or twice, not 25 times."""
    fresh.set_configuration(settings(), section="bpfls")
    asked = []
    get = fresh.get_configuration

    def counting(**kw):
        asked.append(kw)
        return get(**kw)
    fresh.get_configuration = counting
    await start(fresh, fresh.name, {"trace": "messages"})
    uri = EXAMPLE.as_uri()
    open_doc(fresh, uri, EXAMPLE.read_text())
    await diagnostics(fresh, uri, lambda d: _missing_on(d) == ["6.1-amd64", "6.12-amd64"])

    fresh.set_configuration(settings(names=("5.10-amd64", "6.12-amd64")), section="bpfls")
    before = len(asked)
    for _ in range(25):
        fresh.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(None))
    # requests while the kernels reload are answered (with the kernels loaded so far)
    for _ in range(5):
        await fresh.text_document_hover_async(lsp.HoverParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(14, 66)))
        await fresh.text_document_completion_async(lsp.CompletionParams(
            lsp.TextDocumentIdentifier(uri), lsp.Position(15, 40)))
    await diagnostics(fresh, uri, lambda d: _missing_on(d) == ["6.12-amd64"])
    assert 1 <= len(asked) - before <= 3

    # a severity override, no kernel change
    fresh.set_configuration(settings(names=("5.10-amd64", "6.12-amd64"),
                                     severity={"field-missing": "off"}), section="bpfls")
    fresh.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(None))
    await diagnostics(fresh, uri, lambda d: _missing_on(d) is None)
    close_doc(fresh, uri)
    assert not errors_shown(fresh) and not log_errors(fresh)


@pytest_lsp.fixture(config=SERVER, loop_scope="session")
async def puller(lsp_client: LanguageClient):
    """A server of its own for a pull client the test sets up."""
    yield
    await lsp_client.shutdown_session()


async def test_pull_clients_asked_to_pull_again(puller: LanguageClient):
    """A pull client that supports workspace/diagnostic/refresh is asked to pull again when
    the kernels change (here: Neovim's capabilities plus refresh support)."""
    fresh = puller
    caps = client_capabilities("neovim")
    caps.workspace.diagnostics = lsp.DiagnosticWorkspaceClientCapabilities(
        refresh_support=True)
    fresh.set_configuration(settings(), section="bpfls")
    await fresh.initialize_session(lsp.InitializeParams(
        capabilities=caps, root_uri=(ROOT / "tests").as_uri()))
    uri = EXAMPLE.as_uri()
    open_doc(fresh, uri, EXAMPLE.read_text())
    await diagnostics(fresh, uri, lambda d: _missing_on(d) == ["6.1-amd64", "6.12-amd64"])
    before = fresh.diagnostic_refresh_count
    fresh.set_configuration(settings(names=("5.10-amd64", "6.12-amd64")), section="bpfls")
    fresh.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(None))
    await wait_until(lambda: fresh.diagnostic_refresh_count > before, 20, "a refresh")
    await diagnostics(fresh, uri, lambda d: _missing_on(d) == ["6.12-amd64"])
    close_doc(fresh, uri)


async def test_bad_kernel_files_reported_once_others_used(fresh: LanguageClient, tmp_path):
    corrupt = tmp_path / "corrupt.btf"
    corrupt.write_bytes(b"\x9f\xeb\x01\x00" + bytes(range(256)) * 4)
    missing = tmp_path / "missing.btf.xz"
    init = settings()
    init["kernels"] = kernel_list(extra={"broken": str(corrupt), "gone": str(missing)})
    await start(fresh, fresh.name, init)
    await wait_until(lambda: loads_finished(fresh), 30, "the kernels to load")
    uri = EXAMPLE.as_uri()
    open_doc(fresh, uri, EXAMPLE.read_text())
    diags = await diagnostics(fresh, uri, lambda d: _missing_on(d) is not None)
    assert _missing_on(diags) == ["6.1-amd64", "6.12-amd64"]
    facts = [r.message for d in diags if d.code == "field-missing"
             for r in d.related_information]
    assert not any(f.startswith(("broken", "gone")) for f in facts)

    # the same configuration read again: nothing shown twice
    fresh.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(None))
    await asyncio.sleep(0.3)
    shown = errors_shown(fresh)
    assert len(shown) == 2, shown
    [c] = [m for m in shown if str(corrupt) in m]
    [m] = [m for m in shown if str(missing) in m]
    assert "broken" in c and len(c) > len(str(corrupt)) + 20  # names the file and a reason
    assert "gone" in m and ("No such file" in m or "not found" in m or "no such" in m)
    close_doc(fresh, uri)


async def test_progress_while_kernels_load(client: LanguageClient):
    [reports] = [r for r in client.progress_reports.values()
                 if r and isinstance(r[0], lsp.WorkDoneProgressBegin)
                 and "kernel" in r[0].title]
    assert isinstance(reports[-1], lsp.WorkDoneProgressEnd)
    assert "6.12-amd64" in reports[-1].message
    middle = [r for r in reports if isinstance(r, lsp.WorkDoneProgressReport)]
    pcts = [r.percentage for r in middle if r.percentage is not None]
    assert pcts == sorted(pcts) and all(0 <= p <= 100 for p in pcts)


async def test_survives_odd_requests(client: LanguageClient):
    nowhere = (ROOT / "tests" / "lsp" / "not-open.bpf.c").as_uri()
    ident = lsp.TextDocumentIdentifier(nowhere)
    assert await client.text_document_hover_async(
        lsp.HoverParams(ident, lsp.Position(0, 0))) is None
    res = await client.text_document_completion_async(
        lsp.CompletionParams(ident, lsp.Position(3, 3)))
    assert res is None or not getattr(res, "items", res)
    assert not await client.text_document_definition_async(
        lsp.DefinitionParams(ident, lsp.Position(0, 0)))
    assert not await client.text_document_code_action_async(lsp.CodeActionParams(
        ident, lsp.Range(lsp.Position(0, 0), lsp.Position(0, 1)), lsp.CodeActionContext([])))
    rep = await client.text_document_diagnostic_async(lsp.DocumentDiagnosticParams(ident))
    assert rep.kind == "full" and not rep.items
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(version=3, uri=nowhere),
        [lsp.TextDocumentContentChangeWholeDocument("int x;")]))
    close_doc(client, nowhere)

    uri = (ROOT / "examples" / "odd.bpf.c").as_uri()
    open_doc(client, uri, EXAMPLE.read_text())
    await diagnostics(client, uri, lambda d: _missing_on(d) is not None)
    doc = lsp.TextDocumentIdentifier(uri)
    for line, ch in ((0, 9999), (9999, 0), (9999, 9999), (14, 10**6)):
        await client.text_document_hover_async(lsp.HoverParams(doc, lsp.Position(line, ch)))
        await client.text_document_completion_async(
            lsp.CompletionParams(doc, lsp.Position(line, ch)))
        await client.text_document_definition_async(
            lsp.DefinitionParams(doc, lsp.Position(line, ch)))
        await client.text_document_code_action_async(lsp.CodeActionParams(
            doc, lsp.Range(lsp.Position(line, ch), lsp.Position(line + 1, 0)),
            lsp.CodeActionContext([])))
    # an edit whose range is past the end is applied at the end, not an error
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        lsp.VersionedTextDocumentIdentifier(version=2, uri=uri),
        [lsp.TextDocumentContentChangePartial(
            lsp.Range(lsp.Position(500, 3), lsp.Position(600, 0)), "\n// tail\n")]))

    # $/cancelRequest: the request ends (cancelled or answered), the server goes on
    futures = []
    for i in range(5):
        msg_id = f"cancel-me-{i}"
        fut = client.protocol.send_request(
            lsp.TEXT_DOCUMENT_DIAGNOSTIC if i % 2 else lsp.TEXT_DOCUMENT_HOVER,
            lsp.DocumentDiagnosticParams(doc) if i % 2 else
            lsp.HoverParams(doc, lsp.Position(14, 60)), msg_id=msg_id)
        client.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id=msg_id))
        futures.append(asyncio.wrap_future(fut))
    for fut in futures:
        try:
            await asyncio.wait_for(fut, 10)
        except TimeoutError:
            raise
        except Exception:  # noqa: BLE001 - the cancellation error response
            pass
    close_doc(client, uri)
    # a request for the document just closed
    assert await client.text_document_hover_async(
        lsp.HoverParams(doc, lsp.Position(14, 60))) is None
    assert not errors_shown(client)
    assert not log_errors(client)


async def test_tcp_transport(tmp_path):
    """``bpfls serve --tcp HOST:PORT`` speaks the same protocol on a socket."""
    import socket
    import sys

    from pygls.lsp.client import LanguageClient as PlainClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bpfls", "serve", "--tcp", f"127.0.0.1:{port}")
    client = PlainClient("tcp-test", "1")
    try:
        for _ in range(100):
            try:
                await client.start_tcp("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.05)
        res = await asyncio.wait_for(client.initialize_async(lsp.InitializeParams(
            capabilities=lsp.ClientCapabilities(),
            initialization_options={"kernels": kernel_list(("6.12-amd64",)),
                                    "primary": PRIMARY})), 20)
        assert res.server_info.name == "bpfls"
        assert res.capabilities.hover_provider
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
    finally:
        await client.stop()
        if proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
