"""Analysis: what bpfls tells the user, as pure functions over a source model
(:mod:`bpfls.source`) and the configured kernels (:class:`bpfls.project.kernels.KernelSet`).
``bpfls check`` and the language server both call them, so they cannot disagree. They read
the model and never change it.

- diagnostics: :mod:`.check` (:func:`~.check.check_model`: resolve every relocation on every
  kernel, run the rules), :mod:`.rules` (one function per CO-RE rule), :mod:`.diagnostics`
  (the record and :data:`~.diagnostics.CODES`, the one table of codes, severities and docs),
  :mod:`.load_check` (will each program load and attach on each kernel: what it names, judged
  by :mod:`.attach`'s per-kernel lookups, its section read with :mod:`.sections`, libbpf's
  section table),
  :mod:`.pitfalls` (libbpf pitfalls a verdict alone does not show), :mod:`.report` (a file's
  diagnostics and relocations);
- the editor's features: :mod:`.hover`, :mod:`.completion`, :mod:`.definition`,
  :mod:`.actions` (quick fixes), :mod:`.typeview` (kernel type views), over :mod:`.facts`
  (what each kernel says about a type, member or enumerator), :mod:`.kernelindex` (per-kernel
  name lists) and :mod:`.helper_table` (the BPF helpers, generated);
- compiled objects: :mod:`.object_programs` (what an object asks of the kernel by name: its
  programs, helper and kfunc calls, maps, ksyms and struct_ops, for the load checks).
"""
