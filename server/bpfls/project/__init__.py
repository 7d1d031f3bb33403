"""The project a program belongs to: its configuration (``bpfls.toml``, command-line options,
defaults), its compile database, and the configured kernels loaded as one :class:`KernelSet`.

Imports only :mod:`bpfls.btf`; the analysis, the language server and the CLI read it.
"""
