"""Analysis: diagnostics (and later hover, completion, actions) as pure functions over the
source model and the configured kernels. Shared by ``bpfls check`` and the language server."""
