"""The language server: a thin pygls adapter over the engine (``bpfls serve``).

- :mod:`bpfls.lsp.server`: the server object, settings, kernel loading, progress.
- :mod:`bpfls.lsp.features`: the protocol handlers.
- :mod:`bpfls.lsp.diagnostics`: debounced analysis off the event loop; push or pull.
- :mod:`bpfls.lsp.documents`: open documents and position encodings (pure Python).
- :mod:`bpfls.lsp.settings`: merging initializationOptions, workspace/configuration,
  bpfls.toml and the defaults (pure Python).
- :mod:`bpfls.lsp.kernelload`: background kernel loading (pure Python).
- :mod:`bpfls.lsp.convert`: engine results to protocol objects.

Importing this package does not import pygls or lsprotocol; :func:`bpfls.lsp.server.create_server`
does.
"""
