"""One language server per emulated client (VS Code's and Neovim's capabilities) shared by
the tests that do not change its configuration."""

from __future__ import annotations

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from .lspclient import CLIENTS, SERVER, loads_finished, settings, start, wait_until


@pytest_lsp.fixture(scope="session", params=CLIENTS, config=SERVER)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):
    """A server with the three amd64 sample kernels, primary 6.12-amd64, fully loaded."""
    lsp_client.init_result = await start(lsp_client, request.param, settings())
    await wait_until(lambda: loads_finished(lsp_client), 30, "the kernels to load")
    yield
    await lsp_client.shutdown_session()
