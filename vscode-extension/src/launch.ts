// Which command starts `bpfls serve`. No `vscode` import here: the look-ups are passed in
// (`Probes`), so the order of resolution is unit-tested under plain Node.
//
//   1. bpfls.server.path     → <path> serve
//   2. bpfls.server.python   → <python> -m bpfls serve
//   3. `bpfls` on PATH       → bpfls serve
//   4. the Python extension's interpreter, when it has bpfls → <python> -m bpfls serve
//
// A setting that is given but does not work is reported as such, without falling back: the
// user asked for that server.

import type { LaunchSettings } from './settings';

export type LaunchSource = 'server.path' | 'server.python' | 'PATH' | 'python-extension';

export interface Launch {
  command: string;
  args: string[];
  source: LaunchSource;
}

export interface LaunchFailure {
  /** one or two sentences for the notification */
  message: string;
  /** the setting to open, when one is at fault */
  setting?: 'bpfls.server.path' | 'bpfls.server.python';
}

export type LaunchResult = { ok: true; launch: Launch } | { ok: false; failure: LaunchFailure };

export interface Probes {
  /** the absolute path of an executable on PATH, or undefined */
  which(command: string): Promise<string | undefined>;
  /** whether a file exists and can be executed */
  isExecutable(file: string): Promise<boolean>;
  /** whether `<python...> -m bpfls serve --help` succeeds */
  hasServer(python: string[]): Promise<boolean>;
  /** the interpreter the Python extension selected (its command line), if any */
  pythonExtensionInterpreter(): Promise<string[] | undefined>;
}

export const INSTALL_HINT =
  'Install it with `pip install bpfls` (or `pip install .` in a bpfls checkout, see its README), ' +
  'then set bpfls.server.path to the bpfls executable or bpfls.server.python to the Python ' +
  'interpreter it was installed into, unless it is on PATH.';

export const SERVE_ARGS = ['serve'];
export const MODULE_ARGS = ['-m', 'bpfls', 'serve'];

export async function resolveLaunch(settings: LaunchSettings, probes: Probes): Promise<LaunchResult> {
  if (settings.path !== undefined) {
    const file = settings.path.includes('/') || settings.path.includes('\\')
      ? settings.path
      : await probes.which(settings.path);
    if (file !== undefined && (await probes.isExecutable(file))) {
      return { ok: true, launch: { command: file, args: [...SERVE_ARGS], source: 'server.path' } };
    }
    return {
      ok: false,
      failure: {
        message: `bpfls.server.path: ${settings.path} is not an executable file. ${INSTALL_HINT}`,
        setting: 'bpfls.server.path',
      },
    };
  }
  if (settings.python !== undefined) {
    if (await probes.hasServer([settings.python])) {
      return {
        ok: true,
        launch: { command: settings.python, args: [...MODULE_ARGS], source: 'server.python' },
      };
    }
    return {
      ok: false,
      failure: {
        message: `bpfls.server.python: ${settings.python} cannot run \`-m bpfls serve\` ` +
          `(not an interpreter, or bpfls is not installed in it). ${INSTALL_HINT}`,
        setting: 'bpfls.server.python',
      },
    };
  }
  const onPath = await probes.which('bpfls');
  if (onPath !== undefined) {
    return { ok: true, launch: { command: onPath, args: [...SERVE_ARGS], source: 'PATH' } };
  }
  const interpreter = await probes.pythonExtensionInterpreter();
  if (interpreter !== undefined && interpreter.length > 0 && (await probes.hasServer(interpreter))) {
    return {
      ok: true,
      launch: {
        command: interpreter[0],
        args: [...interpreter.slice(1), ...MODULE_ARGS],
        source: 'python-extension',
      },
    };
  }
  return {
    ok: false,
    failure: { message: `The bpfls language server was not found. ${INSTALL_HINT}` },
  };
}

/** One line for the output channel. */
export function describeLaunch(launch: Launch): string {
  const quote = (s: string) => (/[\s"']/.test(s) ? JSON.stringify(s) : s);
  return `${[launch.command, ...launch.args].map(quote).join(' ')} (from ${launch.source})`;
}
