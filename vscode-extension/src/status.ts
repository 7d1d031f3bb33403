// What the status bar item says (no `vscode` import: unit-tested under plain Node).

import type { KernelInfo } from './protocol';

export type Phase = 'starting' | 'running' | 'stopped' | 'no-server';

export interface ProgressState {
  title?: string;
  message?: string;
  percentage?: number;
}

export interface StatusInput {
  phase: Phase;
  /** the last bpfls.listKernels answer (undefined: not asked yet or it failed) */
  kernels?: KernelInfo[];
  /** work-done progress in flight, oldest first */
  progress?: ProgressState[];
  /** why the server is not running, or another problem */
  detail?: string;
  /** the command line of the server */
  server?: string;
}

export interface StatusView {
  text: string;
  /** markdown */
  tooltip: string;
  /** shown with the warning background */
  warning: boolean;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function escapeMarkdown(s: string): string {
  return s.replace(/([\\`*_{}[\]()#+!|<>])/g, '\\$1');
}

export function kernelLines(kernels: KernelInfo[]): string[] {
  return kernels.map((k) => {
    const state = k.error ? `failed: ${escapeMarkdown(k.error)}` : k.loaded ? 'loaded' : 'not loaded yet';
    return `- **${escapeMarkdown(k.name)}**${k.primary ? ' (primary)' : ''}: ${state}  \n  \`${k.path.replace(/`/g, "'")}\``;
  });
}

export function statusView(input: StatusInput): StatusView {
  const progress = input.progress ?? [];
  const kernels = input.kernels;
  const tooltip: string[] = ['**bpfls** (BPF CO-RE)'];
  if (kernels !== undefined) {
    tooltip.push('', kernels.length > 0 ? 'Kernels:' : 'No kernels configured.', ...kernelLines(kernels));
  }
  if (input.detail) {
    tooltip.push('', escapeMarkdown(input.detail));
  }
  if (input.server) {
    tooltip.push('', `Server: \`${input.server.replace(/`/g, "'")}\``);
  }
  tooltip.push('', 'Click to show a kernel type.');
  if (input.phase === 'no-server') {
    return { text: '$(warning) bpfls: no server', tooltip: tooltip.join('\n'), warning: true };
  }
  if (input.phase === 'stopped') {
    return { text: '$(error) bpfls: stopped', tooltip: tooltip.join('\n'), warning: true };
  }
  if (progress.length > 0) {
    const p = progress[progress.length - 1];
    const title = p.title?.replace(/^bpfls:\s*/i, '');
    const words = [title, p.message].filter((w) => w !== undefined && w !== '').join(': ');
    const pct = p.percentage !== undefined ? ` ${Math.round(p.percentage)}%` : '';
    return { text: `$(sync~spin) bpfls: ${words || 'working'}${pct}`, tooltip: tooltip.join('\n'), warning: false };
  }
  if (input.phase === 'starting') {
    return { text: '$(sync~spin) bpfls: starting', tooltip: tooltip.join('\n'), warning: false };
  }
  if (kernels === undefined) {
    return { text: '$(check) bpfls', tooltip: tooltip.join('\n'), warning: false };
  }
  const failed = kernels.filter((k) => k.error).length;
  const primary = kernels.find((k) => k.primary);
  let text = `bpfls: ${plural(kernels.length, 'kernel')}`;
  if (primary !== undefined) {
    text += ` (${primary.name})`;
  }
  if (failed > 0) {
    return { text: `$(warning) ${text}, ${failed} failed`, tooltip: tooltip.join('\n'), warning: true };
  }
  return { text: `$(check) ${text}`, tooltip: tooltip.join('\n'), warning: false };
}
