"""The language server (``bpfls serve``): a thin pygls adapter over the engine.

**The pieces.**

- :mod:`.server`: :class:`~.server.BpflsServer`, the pygls server. It owns one
  :class:`~.session.Session` and does the talking: messages, progress, the client's log,
  stdio or TCP. :func:`~.server.create_server` registers the handlers.
- :mod:`.session`: the :class:`~.session.Session`, all the state: open documents, merged
  settings, the current kernel set and the *generations* that change with the settings and
  the kernels, the client's facts (:mod:`.client`), the kernel load under way, the worker
  threads and the caches.
- :mod:`.handlers`: the protocol handlers, plain functions ``handler(ls, params)``, one module
  per kind of message, registered from the tables in ``handlers/__init__.py``.
- :mod:`.diagnostics`: the :class:`~.diagnostics.DiagnosticsManager`: when each open document
  is analysed, which results are kept, what is pushed or answered to a pull.
- :mod:`.worker`: what runs in the analysis thread: an immutable
  :class:`~.worker.AnalysisJob` in, an :class:`~.worker.Analysis` out.
- :mod:`.compiles`: the :class:`~.compiles.CompileManager`: when each open BPF C document is
  compiled with clang (on save, and once left alone), the clang subprocess and its killing;
  :mod:`.compile_worker`: what runs in the compile thread (the command, judging the object).
- :mod:`.configuration`: reading the settings, loading the kernels, the warm-up.
- Pure Python, no protocol: :mod:`.documents` (texts and position encodings),
  :mod:`.settings` (merging the settings' sources), :mod:`.kernelload` (loading kernels in
  the background).
- Helpers: :mod:`.convert` (engine results to protocol objects), :mod:`.files` (texts of
  files by path), :mod:`.paths` (URIs and paths), :mod:`.progress`, :mod:`.stdio` (the
  chunked stdin reader), :mod:`.lsplog` (the log to the client).

**The life of one edit.**

1. ``textDocument/didChange`` reaches :func:`.handlers.sync.did_change`, which applies each
   change to the :class:`~.documents.Document` (:meth:`~.documents.Document.apply_change`
   costs the edited lines), sets its version and tells the diagnostics manager.
2. :meth:`~.diagnostics.DiagnosticsManager.changed` schedules an analysis: 10 ms after an
   edit to an idle document, 120 ms after each keystroke while one is running or waiting (a
   burst of typing is analysed once, at its end). Open documents that include it follow.
3. When the timer fires (and the primary kernel is in), :meth:`.Session.analysis_job`
   captures on the event loop everything the analysis reads: text and version, engine path,
   kernel set, configuration, the other open documents' texts, encoding, generations.
4. :func:`.worker.run` analyses it in the analysis thread, as ``bpfls check`` would.
5. Back on the event loop the source model is kept (hover and completion use the latest);
   the diagnostics are kept if the result is still current (same document version, same
   generation), or if only kernels loaded meanwhile are missing from it. Otherwise the
   document is analysed again.
6. A client that takes pushed diagnostics gets ``textDocument/publishDiagnostics`` (and the
   headers the program includes get what was found in them); a client that pulls gets the
   kept result as the answer to ``textDocument/diagnostic``, which waits for a current one.
7. Once the document is saved, or left alone for :data:`.compiles.IDLE` seconds, and when
   ``compile`` asks for it (the editor's default ``auto``: when clang with the BPF target is
   on ``PATH``), :mod:`.compiles` builds the text with clang in a subprocess (killed by the
   next edit) and judges the object with the source model of the same version. The exact
   result replaces the predicted one of that text (``data.source``: ``"compiled"``), and
   hover tells which relocations clang emitted; the next edit brings the predicted
   diagnostics back until the next compile.

**Where things go.** A new request or notification handler: a function in the
:mod:`.handlers` module of its kind, plus one line in ``handlers.FEATURES`` (or
``COMMANDS``). A new piece of state: the :class:`~.session.Session`. A capability of the
client the server acts on: :class:`~.client.ClientFacts`. A cache the engine's analyses share:
the session's caches, handed to the worker through :meth:`.Session.analysis_job`.

Importing this package does not import pygls or lsprotocol (``bpfls check`` does not pay for
them); :mod:`.server` does. The engine's editor features (hover, completion, definition,
quick fixes, type views) are imported on their first use.
"""
