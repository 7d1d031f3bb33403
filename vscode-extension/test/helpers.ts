// Shared by the tests: where the repository is and which Python runs its server.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** The repository root (the directory holding pyproject.toml above vscode-extension/). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'pyproject.toml')) && existsSync(path.join(dir, 'server', 'bpfls'))) {
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) {
      throw new Error(`no bpfls repository above ${__dirname}`);
    }
    dir = up;
  }
}

/** $BPFLS_PYTHON, else the repository's .venv, else python3. */
export function python(): string {
  if (process.env.BPFLS_PYTHON) {
    return process.env.BPFLS_PYTHON;
  }
  const venv = path.join(repoRoot(), '.venv', process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  return existsSync(venv) ? venv : 'python3';
}

/** The environment that runs the repository's server without installing it. */
export function pythonEnv(): NodeJS.ProcessEnv {
  const server = path.join(repoRoot(), 'server');
  const old = process.env.PYTHONPATH;
  return { ...process.env, PYTHONPATH: old ? `${server}${path.delimiter}${old}` : server, PYTHONUNBUFFERED: '1' };
}

/** Runs a Python snippet; its stdout parsed as JSON. */
export function runPython(code: string, input?: string): unknown {
  const r = spawnSync(python(), ['-c', code], {
    cwd: repoRoot(),
    env: pythonEnv(),
    input,
    encoding: 'utf8',
    timeout: 60000,
  });
  if (r.error) {
    throw r.error;
  }
  if (r.status !== 0) {
    throw new Error(`${python()} -c ... exited ${r.status}:\n${r.stderr}`);
  }
  return JSON.parse(r.stdout);
}
