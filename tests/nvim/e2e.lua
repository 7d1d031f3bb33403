-- Headless Neovim end-to-end run of the shipped config (editors/nvim/lsp/bpfls.lua).
-- Environment: BPFLS_NVIM_RTP (editors/nvim), BPFLS_PYTHON, BPFLS_FILE, BPFLS_OUT (JSON
-- results), BPFLS_SETTINGS (JSON of the `bpfls` settings section), BPFLS_EXPECT (text the
-- final field-missing diagnostic contains).
local env = vim.env
vim.opt.runtimepath:prepend(env.BPFLS_NVIM_RTP)
if env.BPFLS_LSP_LOG then vim.lsp.set_log_level('debug') end
local out = {}
local function finish(code)
  local f = io.open(env.BPFLS_OUT, 'w')
  f:write(vim.json.encode(out))
  f:close()
  os.exit(code)
end

local ok, err = pcall(function()
  vim.lsp.config('bpfls', {
    cmd = { env.BPFLS_PYTHON, '-m', 'bpfls', 'serve' },
    settings = { bpfls = vim.json.decode(env.BPFLS_SETTINGS) },
  })
  vim.lsp.enable('bpfls')
  vim.cmd.edit(env.BPFLS_FILE)
  vim.bo.filetype = 'c'
  local buf = vim.api.nvim_get_current_buf()
  out.config_cmd = vim.lsp.config.bpfls.cmd
  out.root_markers = vim.lsp.config.bpfls.root_markers

  local client
  vim.wait(20000, function()
    client = vim.lsp.get_clients({ bufnr = buf, name = 'bpfls' })[1]
    return client ~= nil and client.initialized
  end, 50)
  if not client then error('bpfls did not attach') end
  out.server_name = client.server_info and client.server_info.name

  -- diagnostics (pushed or pulled, whichever the server chose); kernels load in the
  -- background, so wait for the one naming every kernel expected (BPFLS_EXPECT)
  vim.wait(30000, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == 'field-missing' and d.message:find(env.BPFLS_EXPECT, 1, true) then
        return true
      end
    end
    return false
  end, 50)
  out.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(out.diagnostics, { code = d.code, lnum = d.lnum, col = d.col,
                                    message = d.message, severity = d.severity })
  end

  -- a settings change reaches the diagnostics without an edit (the server asks for a pull)
  client.settings.bpfls.severity = { ['field-missing'] = 'warning' }
  client:notify('workspace/didChangeConfiguration', { settings = client.settings })
  out.after_settings = vim.wait(20000, function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.code == 'field-missing' and d.severity == vim.diagnostic.severity.WARN then
        return true
      end
    end
    return false
  end, 50)

  local function at(pattern, offset)
    for lnum, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      local s = line:find(pattern, 1, true)
      if s then return { line = lnum - 1, character = s - 1 + (offset or 0) } end
    end
    error('not found: ' .. pattern)
  end

  local hover = client:request_sync('textDocument/hover', {
    textDocument = { uri = vim.uri_from_bufnr(buf) }, position = at('real_parent', 2),
  }, 20000, buf)
  out.hover = hover and hover.result and hover.result.contents
  out.hover_err = hover and hover.err

  local pos = at('BPF_CORE_READ(task, ', #'BPF_CORE_READ(task, ')
  local compl = client:request_sync('textDocument/completion', {
    textDocument = { uri = vim.uri_from_bufnr(buf) }, position = pos,
    context = { triggerKind = 2, triggerCharacter = ' ' },
  }, 20000, buf)
  local result = compl and compl.result
  local items = result and (result.items or result) or {}
  out.completion = {}
  for _, it in ipairs(items) do table.insert(out.completion, it.label) end
  out.completion_err = compl and compl.err
end)
if not ok then
  out.error = tostring(err)
  finish(1)
end
finish(0)
