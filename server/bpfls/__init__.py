"""bpfls: a language server and CI checker for BPF C programs that use libbpf CO-RE."""

__version__ = "0.1.0"
