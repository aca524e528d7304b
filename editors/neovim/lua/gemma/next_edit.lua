--- Next-edit suggestions (gemma/nextEdit, docs/protocol.md): after an edit, the edit the user will
--- likely make next near the cursor, drawn where it applies: the text it replaces struck through,
--- the new text as virtual text after it. `jump` moves the cursor there, `accept` applies it; the
--- next change to the buffer clears it (and, after `debounce_ms` of quiet, asks again).
local client_mod = require('gemma.client')

local M = {}

M.ns = vim.api.nvim_create_namespace('gemma.next_edit')

---@class gemma.NextEdit
---@field range lsp.Range
---@field newText string
---@field label string
---@field version integer
---@field encoding string the client's position encoding

---@class gemma.NextEditState
---@field pending {client: vim.lsp.Client, id: integer}|nil
---@field edit gemma.NextEdit|nil what is shown
---@field tick integer|nil the changedtick it was shown for

---@type table<integer, gemma.NextEditState>
local states = {}
local timer = nil ---@type uv.uv_timer_t|nil

local function config()
  return require('gemma.config').current.next_edit
end

local function state(bufnr)
  states[bufnr] = states[bufnr] or {}
  return states[bufnr]
end

vim.api.nvim_set_hl(
  0,
  'GemmaNextEditDelete',
  { default = true, strikethrough = true, link = 'DiffDelete' }
)
vim.api.nvim_set_hl(0, 'GemmaNextEditAdd', { default = true, link = 'DiffAdd' })
vim.api.nvim_set_hl(0, 'GemmaNextEditHint', { default = true, link = 'Comment' })

local byte_col = client_mod.byte_col

--- Cancels the request in flight and removes what is shown in `bufnr`.
---@param bufnr integer|nil
function M.clear(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if st then
    client_mod.cancel_latest(st)
    st.edit, st.tick = nil, nil
  end
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- The suggestion shown in `bufnr`, or nil.
---@param bufnr integer|nil
---@return gemma.NextEdit|nil
function M.shown(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if st and st.edit and st.tick == vim.b[bufnr].changedtick then
    return st.edit
  end
  return nil
end

--- Draws `edit` in `bufnr`: the replaced text struck through, the new text as virtual text after it
--- (its first line inline, further lines as virtual lines), the label at the end of the first line.
---@param bufnr integer
---@param edit gemma.NextEdit
function M.show(bufnr, edit)
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local s, e = edit.range.start, edit.range['end']
  local srow, erow = s.line, e.line
  local scol = byte_col(bufnr, srow, s.character, edit.encoding)
  local ecol = byte_col(bufnr, erow, e.character, edit.encoding)
  if srow ~= erow or scol ~= ecol then
    vim.api.nvim_buf_set_extmark(bufnr, M.ns, srow, scol, {
      end_row = erow,
      end_col = ecol,
      hl_group = 'GemmaNextEditDelete',
      priority = 1100,
    })
  end
  local lines = vim.split(edit.newText, '\n', { plain = true })
  local opts = { hl_mode = 'combine', priority = 1100 }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], 'GemmaNextEditAdd' } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      virt_lines[#virt_lines + 1] = { { lines[i] == '' and ' ' or lines[i], 'GemmaNextEditAdd' } }
    end
    opts.virt_lines = virt_lines
  end
  if opts.virt_text or opts.virt_lines then
    vim.api.nvim_buf_set_extmark(bufnr, M.ns, erow, ecol, opts)
  end
  local keys = config().keymaps
  local hint = edit.label
  if keys.accept then
    hint = hint .. '  ' .. keys.accept .. ' accept'
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, srow, 0, {
    virt_text = { { '  ' .. hint, 'GemmaNextEditHint' } },
    virt_text_pos = 'eol',
    priority = 1100,
  })
end

--- Asks the server for the next edit at the cursor of the current buffer.
function M.request()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_mod.get(bufnr)
  if not (client and config().enabled) then
    return
  end
  M.clear(bufnr)
  local st = state(bufnr)
  local tick = vim.b[bufnr].changedtick
  local version = vim.lsp.util.buf_versions[bufnr]
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.version = version
  client_mod.request_latest(
    client,
    bufnr,
    st,
    'gemma/nextEdit',
    params,
    'nextEdit',
    function(result)
      if
        type(result) ~= 'table'
        or not vim.api.nvim_buf_is_valid(bufnr)
        or vim.b[bufnr].changedtick ~= tick
        or result.version ~= vim.lsp.util.buf_versions[bufnr]
      then
        return -- nothing to suggest, or the buffer moved on: the edit was for other text
      end
      st.edit = {
        range = result.range,
        newText = result.newText,
        label = result.label or '',
        version = result.version,
        encoding = client.offset_encoding,
      }
      st.tick = tick
      M.show(bufnr, st.edit)
    end
  )
end

--- Moves the cursor to where the shown edit starts. Returns false when nothing is shown.
---@return boolean
function M.jump()
  local bufnr = vim.api.nvim_get_current_buf()
  local edit = M.shown(bufnr)
  if not edit then
    return false
  end
  local s = edit.range.start
  vim.api.nvim_win_set_cursor(
    0,
    { s.line + 1, byte_col(bufnr, s.line, s.character, edit.encoding) }
  )
  return true
end

--- Applies the shown edit (only to the text it was made for) and clears it. Returns false when
--- nothing is shown.
---@return boolean
function M.accept()
  local bufnr = vim.api.nvim_get_current_buf()
  local edit = M.shown(bufnr)
  if not edit or edit.version ~= vim.lsp.util.buf_versions[bufnr] then
    M.clear(bufnr)
    return false
  end
  M.clear(bufnr)
  vim.lsp.util.apply_text_edits(
    { { range = edit.range, newText = edit.newText } },
    bufnr,
    edit.encoding
  )
  -- Leave the cursor at the end of the new text, where typing would continue.
  local lines = vim.split(edit.newText, '\n', { plain = true })
  local row = edit.range.start.line + #lines - 1
  local col = #lines[#lines]
  if #lines == 1 then
    col = col + byte_col(bufnr, edit.range.start.line, edit.range.start.character, edit.encoding)
  end
  pcall(vim.api.nvim_win_set_cursor, 0, { row + 1, col })
  return true
end

--- A change to the buffer: clear what is shown (it was for the text before) and ask again after
--- `debounce_ms` of quiet.
---@param bufnr integer
function M.on_change(bufnr)
  M.clear(bufnr)
  if not config().enabled then
    return
  end
  timer = client_mod.debounce(timer, config().debounce_ms, function()
    if vim.api.nvim_get_current_buf() == bufnr and client_mod.get(bufnr) then
      M.request()
    end
  end)
end

local mapped = {} ---@type {[1]: string, [2]: string}[] (mode, key) mapped by the last set_keymaps()

local function feed(key)
  vim.api.nvim_feedkeys(vim.keycode(key), 'n', false)
end

--- Maps `jump` and `accept` in normal and insert mode; a key falls through to its normal meaning when
--- no next edit is shown.
function M.set_keymaps()
  for _, m in ipairs(mapped) do
    pcall(vim.keymap.del, m[1], m[2])
  end
  mapped = {}
  local keys = config().keymaps
  for name, fn in pairs({ jump = M.jump, accept = M.accept }) do
    local key = keys[name]
    if key then
      for _, mode in ipairs({ 'n', 'i' }) do
        vim.keymap.set(mode, key, function()
          if not fn() then
            feed(key)
          end
        end, { desc = 'Gemma: ' .. name .. ' next edit', silent = true })
        mapped[#mapped + 1] = { mode, key }
      end
    end
  end
end

--- Creates the next-edit autocmds in `group`.
---@param group integer
function M.create_autocmds(group)
  vim.api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI' }, {
    group = group,
    callback = function(args)
      if client_mod.get(args.buf) then
        M.on_change(args.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufLeave', 'BufWipeout', 'LspDetach' }, {
    group = group,
    callback = function(args)
      M.clear(args.buf)
      if args.event ~= 'BufLeave' then
        states[args.buf] = nil
      end
    end,
  })
end

return M
