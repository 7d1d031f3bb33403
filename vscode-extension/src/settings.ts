// VS Code settings (section "bpfls") → what the server reads. No `vscode` import here: this
// module is unit-tested under plain Node.
//
// The server reads the keys of bpfls.toml (kernels, primary, include, defines, severity,
// compile) plus trace (off|messages|verbose) through workspace/configuration, section "bpfls".
// The client-only keys (server.path, server.python) are removed, `trace.server` becomes
// `trace`, and settings left at their defaults (empty, or compile's `auto`) are left out so
// that the project's bpfls.toml and the server's defaults apply. No initializationOptions are
// sent: the server lets them win over workspace/configuration, which would freeze the settings
// until a restart.

import * as os from 'node:os';
import * as path from 'node:path';

/** The keys the server understands (bpfls.project.config.parse_config). */
export const SERVER_KEYS = ['kernels', 'primary', 'include', 'defines', 'severity', 'compile', 'trace'] as const;

/** Settings that only the client reads (how to start the server). */
export const CLIENT_KEYS = ['server.path', 'server.python'] as const;

export const SEVERITY_LEVELS = ['error', 'warning', 'info', 'hint', 'off'] as const;

/** bpfls.compile (bpfls.project.config.COMPILE_MODES); `auto`, the default, is not sent. */
export const COMPILE_MODES = ['auto', 'always', 'never'] as const;

export interface KernelSetting {
  name: string;
  path: string;
  base?: string;
}

export interface ServerSettings {
  kernels?: KernelSetting[];
  primary?: string;
  include?: string[];
  defines?: string[];
  severity?: Record<string, string>;
  /** always or never (auto is the server's default, and leaves bpfls.toml's choice) */
  compile?: string;
  /** off, messages or verbose */
  trace?: string;
}

export interface LaunchSettings {
  /** bpfls.server.path: the bpfls executable */
  path?: string;
  /** bpfls.server.python: an interpreter that has bpfls installed */
  python?: string;
}

/** Where `${workspaceFolder}` and relative paths point; absent outside a workspace. */
export interface Scope {
  folder?: string;
  env?: Record<string, string | undefined>;
  home?: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `${workspaceFolder}`, `${workspaceFolderBasename}`, `${userHome}`, `${env:NAME}` and a leading
 * `~`. Unknown variables are left as they are. */
export function expandVariables(value: string, scope: Scope = {}): string {
  const home = scope.home ?? os.homedir();
  const env = scope.env ?? process.env;
  let out = value.replace(/\$\{([^}]+)\}/g, (whole, name: string) => {
    if (name === 'workspaceFolder' && scope.folder !== undefined) {
      return scope.folder;
    }
    if (name === 'workspaceFolderBasename' && scope.folder !== undefined) {
      return path.basename(scope.folder);
    }
    if (name === 'userHome') {
      return home;
    }
    if (name.startsWith('env:')) {
      return env[name.slice(4)] ?? '';
    }
    return whole;
  });
  if (out === '~' || out.startsWith('~/')) {
    out = home + out.slice(1);
  }
  return out;
}

/** A path setting: variables expanded, relative paths made absolute against the folder. */
export function resolvePath(value: string, scope: Scope = {}): string {
  const p = expandVariables(value, scope);
  if (scope.folder !== undefined && p !== '' && !path.isAbsolute(p)) {
    return path.join(scope.folder, p);
  }
  return p;
}

function strings(v: unknown): string[] {
  if (typeof v === 'string') {
    return v.trim() === '' ? [] : [v];
  }
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string' && s.trim() !== '') : [];
}

/**
 * The "bpfls" section as VS Code returns it (for a workspace/configuration item, or
 * getConfiguration("bpfls")) → the settings object sent to the server. Empty values are left
 * out; a `kernels` or `primary` of the wrong type is passed on for the server to report (the
 * settings editor already flags it); non-strings in `include` and `defines` are dropped.
 */
export function toServerSettings(raw: unknown, scope: Scope = {}): ServerSettings {
  const out: ServerSettings = {};
  if (!isObject(raw)) {
    return out;
  }
  if (Array.isArray(raw.kernels)) {
    if (raw.kernels.length > 0) {
      out.kernels = raw.kernels.map((k) => {
        if (!isObject(k)) {
          return k as KernelSetting;
        }
        const entry: Record<string, unknown> = { ...k };
        if (typeof entry.path === 'string') {
          entry.path = resolvePath(entry.path, scope);
        }
        if (entry.base === null || entry.base === '') {
          delete entry.base;
        }
        return entry as unknown as KernelSetting;
      });
    }
  } else if (isObject(raw.kernels)) {
    // a table like bpfls.toml's: { "6.1": "path" | {path, base} }
    const entries = Object.entries(raw.kernels);
    if (entries.length > 0) {
      out.kernels = entries.map(([name, v]) => {
        if (typeof v === 'string') {
          return { name, path: resolvePath(v, scope) };
        }
        const entry: Record<string, unknown> = isObject(v) ? { name, ...v } : { name, path: v };
        if (typeof entry.path === 'string') {
          entry.path = resolvePath(entry.path, scope);
        }
        return entry as unknown as KernelSetting;
      });
    }
  } else if (raw.kernels !== undefined && raw.kernels !== null) {
    (out as Record<string, unknown>).kernels = raw.kernels; // let the server say what is wrong
  }
  if (typeof raw.primary === 'string' && raw.primary.trim() !== '') {
    out.primary = raw.primary.trim();
  } else if (raw.primary !== undefined && raw.primary !== null && typeof raw.primary !== 'string') {
    (out as Record<string, unknown>).primary = raw.primary;
  }
  const include = strings(raw.include).map((p) => resolvePath(p, scope));
  if (include.length > 0) {
    out.include = include;
  }
  const defines = strings(raw.defines).map((d) => d.trim());
  if (defines.length > 0) {
    out.defines = defines;
  }
  if (isObject(raw.severity)) {
    const severity: Record<string, string> = {};
    for (const [code, level] of Object.entries(raw.severity)) {
      if (level !== null && level !== undefined && level !== '') {
        severity[code] = level as string;
      }
    }
    if (Object.keys(severity).length > 0) {
      out.severity = severity;
    }
  }
  // auto is the default: left out, so that bpfls.toml's compile (if any) applies
  if (typeof raw.compile === 'string' && raw.compile !== '' && raw.compile !== 'auto') {
    out.compile = raw.compile;
  }
  // bpfls.trace.server (how much the client logs) is also how much the server logs
  const trace = isObject(raw.trace) ? raw.trace.server : raw.trace;
  if (typeof trace === 'string' && trace !== '') {
    out.trace = trace;
  }
  return out;
}

/** The launch settings (bpfls.server.*) of the "bpfls" section, variables expanded. */
export function launchSettings(raw: unknown, scope: Scope = {}): LaunchSettings {
  const out: LaunchSettings = {};
  const server = isObject(raw) && isObject(raw.server) ? raw.server : {};
  if (typeof server.path === 'string' && server.path.trim() !== '') {
    out.path = resolvePath(server.path.trim(), scope);
  }
  if (typeof server.python === 'string' && server.python.trim() !== '') {
    const py = server.python.trim();
    // a bare command name ("python3") is looked up on PATH, not made relative to the folder
    out.python = py.includes('/') || py.includes('\\') || py.startsWith('~') || py.startsWith('${')
      ? resolvePath(py, scope)
      : py;
  }
  return out;
}

/** Whether a change of these settings needs the server restarted (a new process). */
export const RESTART_SECTIONS = ['bpfls.server.path', 'bpfls.server.python'] as const;
