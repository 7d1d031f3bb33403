-- bpfls: BPF C language server (CO-RE checks against several kernels' BTF).
-- Neovim >= 0.11: put this directory on the runtimepath (or copy this file into
-- ~/.config/nvim/lsp/), then `vim.lsp.enable('bpfls')`. Override any field with
-- `vim.lsp.config('bpfls', { settings = { bpfls = { ... } } })`.
---@type vim.lsp.Config
return {
  -- `bpfls serve`; when `bpfls` is not on PATH, say so (Neovim alone only logs it).
  cmd = function(dispatchers, config)
    if vim.fn.executable('bpfls') ~= 1 then
      vim.notify_once('bpfls: the `bpfls` command is not on PATH: install it from a bpfls '
        .. 'checkout (pipx install /path/to/bpfls), or set cmd with vim.lsp.config()',
        vim.log.levels.WARN)
    end
    return vim.lsp.rpc.start({ 'bpfls', 'serve' }, dispatchers,
      config and config.root_dir and { cwd = config.root_dir } or nil)
  end,
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
  --     compile = 'auto',  -- compile with clang on save / when idle: auto | always | never
  --   } }
  -- None set: bpfls.toml in the project, then the bundled sample kernels.
  settings = { bpfls = vim.empty_dict() },
  -- Neovim 0.11 pulls diagnostics only when a buffer changes; this lets the server ask for a
  -- new pull when kernels finish loading or the settings change.
  capabilities = { workspace = { diagnostics = { refreshSupport = true } } },
  handlers = {
    ['workspace/diagnostic/refresh'] = function(_, _, ctx)
      local client = vim.lsp.get_client_by_id(ctx.client_id)
      if client then
        for bufnr in pairs(client.attached_buffers) do
          local params = { textDocument = vim.lsp.util.make_text_document_params(bufnr) }
          if vim.fn.has('nvim-0.11') == 1 then
            client:request('textDocument/diagnostic', params, vim.lsp.diagnostic.on_diagnostic, bufnr)
          else
            client.request('textDocument/diagnostic', params, vim.lsp.diagnostic.on_diagnostic, bufnr)
          end
        end
      end
      return vim.NIL
    end,
  },
}
