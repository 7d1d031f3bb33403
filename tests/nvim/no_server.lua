-- Headless Neovim with the shipped config and no `bpfls` on PATH: what the user is told.
-- Environment: BPFLS_NVIM_RTP (editors/nvim), BPFLS_FILE, BPFLS_OUT (JSON results).
local env = vim.env
vim.opt.runtimepath:prepend(env.BPFLS_NVIM_RTP)
local out = { notes = {} }
vim.notify = function(msg, level) table.insert(out.notes, { msg = msg, level = level }) end
vim.notify_once = function(msg, level) table.insert(out.notes, { msg = msg, level = level }) end
pcall(function()
  vim.lsp.enable('bpfls')
  vim.cmd.edit(env.BPFLS_FILE)
  vim.bo.filetype = 'c'
  vim.wait(3000, function() return #out.notes > 0 end, 50)
end)
local f = io.open(env.BPFLS_OUT, 'w')
f:write(vim.json.encode(out))
f:close()
os.exit(0)
