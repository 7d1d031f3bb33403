// The Node side of the launch probes (no `vscode` import): PATH look-up, executability and
// whether an interpreter can run `-m bpfls serve`.

import { execFile } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';

export async function isExecutable(file: string): Promise<boolean> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) {
      return false;
    }
    if (process.platform === 'win32') {
      return true;
    }
    await fs.access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export async function which(
  command: string,
  env: Record<string, string | undefined> = process.env,
): Promise<string | undefined> {
  const dirs = (env.PATH ?? env.Path ?? '').split(path.delimiter).filter((d) => d !== '');
  const exts = process.platform === 'win32'
    ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT;.COM').split(';').map((e) => e.toLowerCase())]
    : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const file = path.join(dir, command + ext);
      if (await isExecutable(file)) {
        return file;
      }
    }
  }
  return undefined;
}

/** Whether `<python...> -m bpfls serve --help` exits 0 (within `timeoutMs`). */
export function hasServer(
  python: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<boolean> {
  return new Promise((resolve) => {
    if (python.length === 0) {
      resolve(false);
      return;
    }
    execFile(
      python[0],
      [...python.slice(1), '-m', 'bpfls', 'serve', '--help'],
      { env: options.env ?? process.env, cwd: options.cwd, timeout: options.timeoutMs ?? 20000, windowsHide: true },
      (error) => resolve(error === null),
    );
  });
}
