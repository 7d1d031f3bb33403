// The server commands behind the editor commands, with the exact shapes both sides use
// (the same text is in README.md). Sent as workspace/executeCommand with ONE argument, an
// object; kernel names are those of bpfls.listKernels.
//
//   bpfls.listKernels  arguments: [] or [{}]
//     → [{name, path, primary, loaded, error?}]  in configuration order
//   bpfls.listTypes    arguments: [{kernel, prefix?, limit?}]
//     → ["struct task_struct", "enum bpf_map_type", "typedef u32", ...]
//   bpfls.renderType   arguments: [{kernel, name}]
//     → {text}

export const SERVER_COMMANDS = {
  listKernels: 'bpfls.listKernels',
  listTypes: 'bpfls.listTypes',
  renderType: 'bpfls.renderType',
} as const;

export interface KernelInfo {
  /** the configured name ("6.1-amd64", "host") */
  name: string;
  /** the BTF file, absolute */
  path: string;
  /** the kernel vmlinux.h comes from; exactly one kernel is primary when any loaded */
  primary: boolean;
  /** its BTF has been read (false while loading, or when it failed) */
  loaded: boolean;
  /** why it could not be loaded (one line), absent or null when fine */
  error?: string | null;
}

export interface ListTypesArgs {
  kernel: string;
  /** matched against the name without its kind keyword: "task_s" finds "struct task_struct" */
  prefix?: string;
  /** at most this many names (the first ones in order); all when absent */
  limit?: number;
}

export interface RenderTypeArgs {
  kernel: string;
  /** a type the way C spells it, as listTypes returns it (or bare: struct, union, enum,
   * typedef in that order, like `bpfls btf show`) */
  name: string;
}

export interface RenderTypeResult {
  /** the C definition, as `bpfls btf show FILE NAME --format c` prints it */
  text: string;
}

/** The kernels in a listKernels answer, tolerating missing fields. */
export function asKernelList(value: unknown): KernelInfo[] {
  if (!Array.isArray(value)) {
    return [];
  }
  const out: KernelInfo[] = [];
  for (const v of value) {
    if (v === null || typeof v !== 'object' || typeof (v as { name?: unknown }).name !== 'string') {
      continue;
    }
    const k = v as Record<string, unknown>;
    out.push({
      name: k.name as string,
      path: typeof k.path === 'string' ? k.path : '',
      primary: k.primary === true,
      loaded: k.loaded === true,
      error: typeof k.error === 'string' && k.error !== '' ? k.error : undefined,
    });
  }
  return out;
}

/** The names in a listTypes answer. */
export function asTypeNames(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The text of a renderType answer, or undefined. */
export function asRenderedText(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { text?: unknown }).text === 'string') {
    return (value as { text: string }).text;
  }
  return undefined;
}

const KIND_WORDS = ['struct', 'union', 'enum', 'typedef'];

/** What a user typed into the type picker → the prefix listTypes matches ("struct task" →
 * "task"). */
export function typePrefix(typed: string): string {
  const words = typed.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length > 1 && KIND_WORDS.includes(words[0])) {
    words.shift();
  }
  return words.join(' ');
}
