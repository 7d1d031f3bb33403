"""Project configuration: ``bpfls.toml``, command-line overrides and the defaults.

```toml
primary = "6.1"                      # the kernel vmlinux.h was generated from (by default
                                     # the configured kernel whose dump the program's
                                     # vmlinux.h is, else the newest bundled one)
include = ["src", "include"]
defines = ["__TARGET_ARCH_x86", "DEBUG=1"]
compile = "auto"                     # judge what clang emits: auto (when clang is there),
                                     # always, never (bpfls check: never unless --compile)
[kernels]
"5.10" = "btf/5.10.btf.xz"          # paths relative to this file
"6.1"  = "/sys/kernel/btf/vmlinux"
[kernels."mod"]                      # split BTF: a table with path + base (a kernel name)
path = "btf/my_mod.btf"
base = "6.1"
[severity]
read-size-mismatch = "error"        # per-code overrides: error, warning, info, hint, off
[alternatives]                       # programs user space picks one of at load time: a group
groups = [["trace_fentry", "trace_kprobe"]]  # is flagged only on kernels where all fail
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from bpfls.project.compdb import CompileDbError, find_compile_flags

CONFIG_NAME = "bpfls.toml"
SEVERITIES = ("error", "warning", "info", "hint", "off")
#: ``compile``: when bpfls compiles a file with clang and judges the object
COMPILE_MODES = ("auto", "always", "never")
HOST_BTF = "/sys/kernel/btf/vmlinux"


class ConfigError(Exception):
    """A configuration file or option that cannot be used (one clear line)."""


@dataclass(frozen=True)
class KernelSpec:
    name: str
    path: str
    base: str | None = None  # the name of another configured kernel (split BTF)


@dataclass(frozen=True)
class Config:
    kernels: tuple[KernelSpec, ...] = ()
    primary: str | None = None
    include: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # the bpfls.toml this came from, if any
    undefines: tuple[str, ...] = ()
    compile_flags: str | None = None  # the compile_commands.json / compile_flags.txt merged in
    #: compile with clang and judge the object instead of the prediction: "auto" (when clang
    #: with the BPF target is on PATH), "always", "never"; None: the front end's default
    compile: str | None = None
    compiler: str | None = None  # the clang the compile database names for the file
    #: ``primary`` is the default (the newest bundled kernel), not the user's choice: a
    #: program's ``vmlinux.h`` that is another configured kernel's dump picks its own
    primary_default: bool = False
    #: groups of alternative programs (by name): one loads where another fails
    alternatives: tuple[tuple[str, ...], ...] = ()

    def kernel(self, name: str) -> KernelSpec | None:
        for k in self.kernels:
            if k.name == name:
                return k
        return None


def find_config(start: str | Path) -> Path | None:
    """The nearest ``bpfls.toml`` in ``start`` (a file or directory) or its parents."""
    p = Path(start).resolve()
    if not p.is_dir():
        p = p.parent
    for d in (p, *p.parents):
        f = d / CONFIG_NAME
        if f.is_file():
            return f
    return None


def _as_str_list(value: object, what: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{what}' must be a list of strings")
    return tuple(value)


def parse_config(data: dict, where: str, root: Path) -> Config:
    """A Config from already-decoded settings (a bpfls.toml table or LSP settings)."""
    known = {"kernels", "primary", "include", "defines", "severity", "trace", "compile",
             "alternatives"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} "
                          f"(known: {', '.join(sorted(known))})")
    kernels: list[KernelSpec] = []
    raw_kernels = data.get("kernels", {})
    if isinstance(raw_kernels, list):  # [{name, path, base?}] as editors send it
        items = []
        for entry in raw_kernels:
            if not isinstance(entry, dict) or "name" not in entry or "path" not in entry:
                raise ConfigError(f"{where}: each kernel needs a name and a path")
            items.append((entry["name"], {k: v for k, v in entry.items() if k != "name"}))
    elif isinstance(raw_kernels, dict):
        items = list(raw_kernels.items())
    else:
        raise ConfigError(f"{where}: 'kernels' must be a table of name = path")
    for name, value in items:
        if isinstance(value, str):
            path, base = value, None
        elif isinstance(value, dict) and isinstance(value.get("path"), str):
            path, base = value["path"], value.get("base")
            extra = set(value) - {"path", "base"}
            if extra:
                raise ConfigError(f"{where}: kernel {name!r}: unknown key {sorted(extra)[0]!r}")
            if base is not None and not isinstance(base, str):
                raise ConfigError(f"{where}: kernel {name!r}: 'base' must be a kernel name")
        else:
            raise ConfigError(f"{where}: kernel {name!r} must be a path or "
                              "{ path = ..., base = ... }")
        kernels.append(KernelSpec(str(name), _resolve_path(path, root), base))
    names = {k.name for k in kernels}
    for k in kernels:
        if k.base is not None and k.base not in names:
            raise ConfigError(f"{where}: kernel {k.name!r}: base {k.base!r} is not a "
                              "configured kernel")
    primary = data.get("primary")
    if primary is not None and not isinstance(primary, str):
        raise ConfigError(f"{where}: 'primary' must be a kernel name")
    if primary is not None and kernels and primary not in names:
        raise ConfigError(f"{where}: primary {primary!r} is not a configured kernel "
                          f"({', '.join(sorted(names))})")
    severity = data.get("severity", {})
    if not isinstance(severity, dict):
        raise ConfigError(f"{where}: 'severity' must be a table of code = level")
    for code, level in severity.items():
        if level not in SEVERITIES:
            raise ConfigError(f"{where}: severity of {code!r} must be one of "
                              f"{', '.join(SEVERITIES)}")
    include = tuple(_resolve_path(p, root)
                    for p in _as_str_list(data.get("include", []), "include", where))
    defines = _as_str_list(data.get("defines", []), "defines", where)
    compile_mode = data.get("compile")
    if compile_mode is not None and compile_mode not in COMPILE_MODES:
        raise ConfigError(f"{where}: 'compile' must be one of {', '.join(COMPILE_MODES)}")
    return Config(tuple(kernels), primary, include, defines, dict(severity),
                  compile=compile_mode, alternatives=_alternatives(data, where))


def _alternatives(data: dict, where: str) -> tuple[tuple[str, ...], ...]:
    """``[alternatives] groups = [["a", "b"], ...]``: each group two or more program names."""
    raw = data.get("alternatives", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'alternatives' must be a table with 'groups'")
    extra = sorted(set(raw) - {"groups"})
    if extra:
        raise ConfigError(f"{where}: alternatives: unknown key {extra[0]!r} (known: groups)")
    groups = raw.get("groups", [])
    if not isinstance(groups, list):
        raise ConfigError(f"{where}: alternatives.groups must be a list of lists of program "
                          "names")
    out = []
    for g in groups:
        if not isinstance(g, list) or not all(isinstance(n, str) and n for n in g):
            raise ConfigError(f"{where}: alternatives.groups: each group must be a list of "
                              "program names")
        if len(set(g)) < 2:
            raise ConfigError(f"{where}: alternatives.groups: a group needs two or more "
                              f"programs (got {g!r})")
        out.append(tuple(g))
    return tuple(out)


def _resolve_path(path: str, root: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (root / p))


def load_config_file(path: str | Path) -> Config:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    return replace(parse_config(data, str(path), path.parent), source=str(path))


def sample_kernel_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "sample_btf"


def _version_key(name: str) -> tuple:
    head = name.split("-")[0]
    parts = tuple(int(x) if x.isdigit() else 0 for x in head.split("."))
    return parts


#: ``__TARGET_ARCH_*`` suffix / ``uname -m`` → the Debian architecture names the bundled
#: sample kernels carry
_DEB_ARCH = {"x86": "amd64", "x86_64": "amd64", "amd64": "amd64", "arm64": "arm64",
             "aarch64": "arm64"}


def target_arch(defines: tuple[str, ...] | list[str]) -> str | None:
    """The Debian architecture a ``-D__TARGET_ARCH_*`` among ``defines`` selects."""
    arch = None
    for d in defines:
        name = d.partition("=")[0].strip()
        if name.startswith("__TARGET_ARCH_"):
            arch = _DEB_ARCH.get(name.removeprefix("__TARGET_ARCH_"), arch)
    return arch


def default_kernels(arch: str | None = None) -> tuple[tuple[KernelSpec, ...], str | None]:
    """The bundled sample kernels of one architecture (``arch``: ``amd64``/``arm64``; by
    default this machine's), primary the newest, plus the running kernel as ``host`` when it
    exposes BTF and is of that architecture. A program built for x86 reads ``struct pt_regs``
    the x86 way, so judging it on arm64 kernels would only report noise."""
    import platform

    machine = _DEB_ARCH.get(platform.machine(), "amd64")
    arch = arch or machine
    files = sorted(sample_kernel_dir().glob("*.btf.xz"))
    specs = [KernelSpec(f.name.removesuffix(".btf.xz"), str(f)) for f in files]
    specs = [k for k in specs if k.name.endswith("-" + arch)] or specs
    primary = None
    if specs:
        primary = max(specs, key=lambda k: _version_key(k.name)).name
    if Path(HOST_BTF).exists() and arch == machine:
        specs.append(KernelSpec("host", HOST_BTF))
    return tuple(specs), primary


def with_compile_flags(cfg: Config, source_path: str | Path,
                       database: str | Path | None = None) -> Config:
    """``cfg`` plus the include paths and macros ``compile_commands.json`` /
    ``compile_flags.txt`` give ``source_path`` (``database``: the one to read instead of
    searching). Configured includes come first (they are searched first); configured defines
    come last (they win)."""
    try:
        flags = find_compile_flags(source_path, database)
    except CompileDbError as e:
        raise ConfigError(str(e)) from None
    if flags is None:
        return cfg
    include = cfg.include + tuple(p for p in flags.include if p not in cfg.include)
    return replace(cfg, include=include, defines=flags.defines + cfg.defines,
                   undefines=flags.undefines + cfg.undefines, compile_flags=flags.source,
                   compiler=flags.compiler)


def effective_config(source_path: str | Path | None, *, config_file: str | None = None,
                     kernels: list[tuple[str, str]] | None = None, primary: str | None = None,
                     include: list[str] | None = None,
                     defines: list[str] | None = None,
                     compile_commands: str | None = None) -> Config:
    """bpfls.toml (explicit, or found by walking up from ``source_path``) with command-line
    overrides applied; with no kernels configured anywhere, the bundled sample kernels (of the
    architecture the file's flags, from ``compile_commands`` if given, select)."""
    cfg_path = Path(config_file) if config_file else (
        find_config(source_path) if source_path is not None else None)
    cfg = load_config_file(cfg_path) if cfg_path else Config()
    if kernels:
        cwd = Path.cwd()
        cfg = replace(cfg, kernels=tuple(KernelSpec(n, _resolve_path(p, cwd))
                                         for n, p in kernels))
        if cfg.primary and cfg.primary not in {k.name for k in cfg.kernels}:
            cfg = replace(cfg, primary=None)
    if defines:
        cfg = replace(cfg, defines=cfg.defines + tuple(defines))
    if not cfg.kernels:
        arch = target_arch(cfg.defines)
        if arch is None and source_path is not None:
            arch = target_arch(with_compile_flags(cfg, source_path, compile_commands).defines)
        specs, default_primary = default_kernels(arch)
        cfg = replace(cfg, kernels=specs, primary=cfg.primary or default_primary,
                      primary_default=cfg.primary is None)
    if primary is not None:
        if primary not in {k.name for k in cfg.kernels}:
            raise ConfigError(f"--primary {primary!r} is not a configured kernel "
                              f"({', '.join(k.name for k in cfg.kernels)})")
        cfg = replace(cfg, primary=primary, primary_default=False)
    if include:
        cfg = replace(cfg, include=tuple(str(Path(p).resolve()) for p in include) + cfg.include)
    return cfg


def define_map(defines: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """``["A", "B=2"]`` (as -D takes them) → ``{"A": None, "B": "2"}``."""
    out: dict[str, str | None] = {}
    for d in defines:
        name, sep, value = d.partition("=")
        out[name.strip()] = value if sep else None
    return out
