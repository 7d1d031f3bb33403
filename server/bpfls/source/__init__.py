"""Understanding BPF C source: which CO-RE relocations clang will emit, where, and when.

Entry point::

    from bpfls.source import SourceOptions, analyze

    model = analyze("prog.bpf.c", text=None, options=SourceOptions(primary=kernel_btf,
                    include_dirs=("include",), defines={"DEBUG": None}, arch="x86"))

:func:`analyze` ``(path, text=None, options=None) -> SourceModel`` never raises: bad source
gives diagnostics, an internal failure an ``internal-error`` diagnostic on an empty model.
Parse trees and per-function results are kept between calls (same path and primary kernel),
so re-analysing after an edit only walks the functions whose text or environment changed;
:func:`clear_caches` forgets them.

:class:`SourceOptions` fields: ``primary`` (``Btf`` of the kernel vmlinux.h came from, or
``None``), ``kernels`` (the configured kernels as (name, ``Btf``): an included ``vmlinux*.h``
that is the dump of one of them is served from its BTF, see
:mod:`~bpfls.source.vmlinux_header`), ``include_dirs``, ``defines`` (``{"NAME": "VALUE" or
None}``), ``undefines``, ``arch`` (adds ``__TARGET_ARCH_<arch>``), ``overlays`` (unsaved text
by path), ``use_vmlinux_h`` (parse a big ``vmlinux.h`` that is no configured kernel's dump),
``big_endian``.

:class:`SourceModel` fields:

- ``local``: :class:`bpfls.btf.Btf` of the program's own types, split over the primary kernel
  (or over the parsed vmlinux.h); every relocation's ``local`` is this object.
- ``accesses``: list of :class:`CoreAccess`, in source order, one per relocation clang emits:
  ``relocation`` (:class:`bpfls.core.relo.Relocation`), ``kind``, ``spec``, ``access_str``,
  ``path``, ``range`` (the member/type/enumerator token), ``expr_range`` (whole
  expression or macro call), ``accessors`` (each member named on the way, with its range),
  ``function``,
  ``macro`` (``"direct"``, ``"BPF_CORE_READ"``, ``"bpf_core_field_exists"``,
  ``"BPF_KPROBE"``...), ``load``/``store``/``load_size`` (direct memory access),
  ``probe_read``/``read_size``/``user`` (``bpf_probe_read_*``), ``guard``
  (:class:`Guard`: the existence checks under which it runs, its callers' included),
  ``reachable`` (from a ``SEC`` program or a global function), ``check`` (an existence check),
  ``guarded`` (indices of the accesses an existence check guards), ``index``, ``repeat``.
- ``functions``: name → :class:`FunctionInfo` (``section``, ``is_static``, ``macro``,
  ``reachable``, ``calls``, ``range``, ``name_range``, ``is_program``, ``is_root``).
- ``diagnostics``: list of :class:`SourceDiagnostic` (``code``, ``message``, ``path``,
  ``range``, ``data``; the code's severity and doc are in
  :data:`bpfls.analysis.diagnostics.CODES`). Codes: ``unknown-member`` (data: ``member``,
  ``type``, ``type_id``, ``candidates``), ``unknown-type``, ``unknown-enumerator``,
  ``bad-enumerator``, ``not-an-enum``, ``bad-accessor``, ``not-a-pointer``,
  ``incomplete-type``, ``include-not-found``, ``include-depth``, ``preprocessor``,
  ``unbalanced-conditional``, ``preprocessor-error``, ``preprocessor-warning``,
  ``vmlinux-h``, ``read-error``, ``internal-error``. Kernel types and members are judged
  only when the program includes ``vmlinux.h`` (otherwise they may come from system headers,
  which are not read).
- ``programs``, ``calls``, ``maps``, ``ksyms``, ``struct_ops`` (:mod:`bpfls.source.programs`):
  what the program asks of the kernel by name: each ``SEC`` function (section as written,
  program macro parameters with their types, ``// bpfls: alternative=NAME``), each call of a
  helper or kfunc (after macro expansion, with its guard, as accesses have), each map's type
  and flags enumerators, each ``extern ... __ksym``, each struct_ops variable's members.
- ``files`` (every file parsed), ``local_types`` (id → :class:`LocalTypeInfo`), ``macros``,
  ``inactive`` (path → [first, last] line ranges compiled out), ``vmlinux_h``,
  ``vmlinux_kernel`` (the configured kernel whose dump it is, the base of ``local``),
  ``base_preserve_access_index``, ``arch`` (given or guessed from the primary kernel),
  ``timings``, ``scope`` (:class:`FileScope`: global variables and functions with their types,
  and the type names, for position queries; see :mod:`bpfls.source.query`).

:class:`Guard` ``.evaluate(verdict) -> bool | None`` where ``verdict(check_access)`` says
whether that existence check is true on a kernel (``None``: unknown); ``False`` means the
access cannot execute there. ``.atoms()`` lists the checks involved; ``.is_true`` means
unguarded.

Positions are 0-based lines and UTF-8 byte columns.

The modules, in the order a translation unit goes through them:

- preprocessing: :mod:`~bpfls.source.pplines` (splices, comments and literals: where each
  directive's logical line is), :mod:`~bpfls.source.pptokens` (tokens),
  :mod:`~bpfls.source.ppexpr` (constant expressions), :mod:`~bpfls.source.macros`
  (definitions, expansion),
  :mod:`~bpfls.source.predefines` (the compiler's macros), :mod:`~bpfls.source.headers`
  (libbpf's headers, built in where the include path has none),
  :mod:`~bpfls.source.vmlinux_header` (what an included ``vmlinux*.h`` is: a configured
  kernel's dump, another dump, or a header to read), :mod:`~bpfls.source.preprocess`,
  :mod:`~bpfls.source.headercache` (each header's preprocessing and masking, kept for the
  next translation unit that includes it in the same state);
- parsing: :mod:`~bpfls.source.mask` (attribute macros hidden from the parser, and the
  macros that write functions, their expansions kept for the function discovery),
  :mod:`~bpfls.source.cparse` (tree-sitter);
- the program's types: :mod:`~bpfls.source.localtypes` (with :mod:`~bpfls.source.layout`,
  :mod:`~bpfls.source.btfwriter`), :mod:`~bpfls.source.vmlinux` (a ``vmlinux.h`` as BTF),
  :mod:`~bpfls.source.exprtypes` (expression types, member lookup);
- the CO-RE macros: :mod:`~bpfls.source.catalogue` (one record per macro),
  :mod:`~bpfls.source.hops` (one ``BPF_CORE_READ`` hop's accessors and types),
  :mod:`~bpfls.source.intrinsics` (what each expansion relocates);
- the relocation walker: :mod:`~bpfls.source.translation_unit` (the unit, the per-function
  cache), :mod:`~bpfls.source.relocations` (clang's rules; ``FunctionWalker``) made of
  :mod:`~bpfls.source.walk_base`, :mod:`~bpfls.source.walk_statements`,
  :mod:`~bpfls.source.walk_expressions` and :mod:`~bpfls.source.walk_calls` (with
  :mod:`~bpfls.source.walk_scalars`: the kernel pointers held as numbers, and the loads
  through them), over :mod:`~bpfls.source.values` and :mod:`~bpfls.source.snippets`;
  :mod:`~bpfls.source.guards`
  (existence-check conditions), :mod:`~bpfls.source.reach` (which functions run),
  :mod:`~bpfls.source.unused` (the variables nothing reads: their loads are dead),
  :mod:`~bpfls.source.constargs` (the constants an always inlined function's parameters
  are called with: the branches they rule out are dead), :mod:`~bpfls.source.kernel_names`
  (programs, helper and kfunc calls, maps, ksyms, struct_ops), with
  :mod:`~bpfls.source.helper_ids` (the helpers by name);
- :mod:`~bpfls.source.pipeline` (:func:`analyze`), :mod:`~bpfls.source.model` (its records),
  :mod:`~bpfls.source.positions`; :mod:`~bpfls.source.query` (what is at a position, for
  hover, completion and definition).
"""

from __future__ import annotations

import importlib

#: the package's names → the module that defines each. They load on first use, so that
#: importing one small module of the package (the language server imports
#: :mod:`bpfls.source.positions` at start-up) does not import the whole analysis.
_EXPORTS = {
    "format_spec": "bpfls.core.spec",
    "FALSE": "bpfls.source.guards", "TRUE": "bpfls.source.guards",
    "UNKNOWN": "bpfls.source.guards", "Guard": "bpfls.source.guards",
    "Accessor": "bpfls.source.model", "CoreAccess": "bpfls.source.model",
    "FileScope": "bpfls.source.model", "FunctionInfo": "bpfls.source.model",
    "LocalTypeInfo": "bpfls.source.model", "SourceDiagnostic": "bpfls.source.model",
    "SourceModel": "bpfls.source.model",
    "SourceOptions": "bpfls.source.pipeline", "analyze": "bpfls.source.pipeline",
    "clear_caches": "bpfls.source.pipeline",
    "Position": "bpfls.source.positions", "Range": "bpfls.source.positions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

