-- bpfls: BPF C language server (CO-RE checks against several kernels' BTF).
-- Neovim >= 0.11: put this directory on the runtimepath (or copy this file into
-- ~/.config/nvim/lsp/), then `vim.lsp.enable('bpfls')`. Override any field with
-- `vim.lsp.config('bpfls', { settings = { bpfls = { ... } } })`.
---@type vim.lsp.Config
return {
  cmd = { 'bpfls', 'serve' },
  filetypes = { 'c' },
  root_markers = { 'bpfls.toml', 'compile_commands.json', '.git' },
  -- Answers workspace/configuration for section `bpfls`; the keys are those of bpfls.toml:
  --   settings = { bpfls = {
  --     kernels = { { name = '6.1', path = '/sys/kernel/btf/vmlinux' },
  --                 { name = '5.10', path = 'btf/5.10.btf.xz' } },
  --     primary = '6.1',
  --     include = { 'include' },
  --     defines = { '__TARGET_ARCH_x86' },
  --     severity = { ['read-size-mismatch'] = 'error' },
  --   } }
  -- None set: bpfls.toml in the project, then the bundled sample kernels.
  settings = { bpfls = vim.empty_dict() },
}
