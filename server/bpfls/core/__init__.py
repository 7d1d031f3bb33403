"""libbpf CO-RE relocation semantics: what each relocation resolves to on a target kernel.

Inputs are source-independent: a relocation is (kind, local BTF, local root type id, raw access
indices), exactly what clang records in ``.BTF.ext``. This package never imports the LSP stack.
"""
