// Addresses of the read-only documents that show a kernel's type (no `vscode` import).
// `bpfls-type:/<kernel>/<type name>.h`, e.g. `bpfls-type:/6.1-amd64/struct task_struct.h`: the
// tab shows "struct task_struct.h". Only '%' and '/' are escaped so the title stays readable.

export const TYPE_SCHEME = 'bpfls-type';

function escape(s: string): string {
  return s.replace(/%/g, '%25').replace(/\//g, '%2F');
}

function unescape(s: string): string {
  return s.replace(/%2F/gi, '/').replace(/%25/g, '%');
}

export function typeDocPath(kernel: string, name: string): string {
  return `/${escape(kernel)}/${escape(name)}.h`;
}

export function parseTypeDocPath(p: string): { kernel: string; name: string } | undefined {
  const m = /^\/([^/]+)\/([^/]+)\.h$/.exec(p);
  if (m === null) {
    return undefined;
  }
  return { kernel: unescape(m[1]), name: unescape(m[2]) };
}

/** What the document says when the server could not render the type. */
export function unavailableText(kernel: string, name: string, why: string): string {
  return `/* ${name.replace(/\*\//g, '* /')} on ${kernel}: ${why.replace(/\*\//g, '* /')} */\n`;
}
