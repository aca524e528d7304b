--- Inline completion.
---
--- Neovim 0.12+ ('native' path): vim.lsp.inline_completion does the requesting and drawing; the
--- plugin only enables it for the gemma client and maps the keys.
---
--- Neovim 0.11 (and `completion.native = false`): the plugin requests
--- textDocument/inlineCompletion after `debounce_ms` of quiet, keeps one request per buffer in
--- flight (a newer one cancels it), and draws the answer with ghost_text. A suggestion is shown only
--- for the exact buffer state (changedtick and cursor) it was asked for; typing the suggestion's
--- next characters keeps it (shortened), anything else clears it and asks again.
local client_mod = require('gemma.client')
local ghost = require('gemma.ghost_text')

local M = {}

local TRIGGER_INVOKED, TRIGGER_AUTOMATIC = 1, 2

---@class gemma.Suggestion
---@field display string text to insert at the cursor (what the user has not typed yet)
---@field overwrite string buffer text after the cursor that accepting replaces
---@field command lsp.Command|nil run after accepting
---@field client_id integer

---@class gemma.BufState
---@field pending {client: vim.lsp.Client, id: integer}|nil the request in flight
---@field items gemma.Suggestion[]|nil
---@field index integer
---@field shown {row: integer, col: integer, line: string, tick: integer}|nil
---@field all_asked boolean|nil an Invoked request already brought every alternative for this spot
---@field counted boolean|nil the user cycled: show "i/N" (even "1/1")

---@type table<integer, gemma.BufState>
local states = {}

--- Whether completion is on (setup's completion.enabled, flipped by :GemmaToggle).
M.enabled = true

local timer = nil ---@type uv.uv_timer_t|nil

---@param bufnr integer
---@return gemma.BufState
local function state(bufnr)
  local st = states[bufnr]
  if not st then
    st = { index = 1 }
    states[bufnr] = st
  end
  return st
end

--- Whether the native 0.12 path is in use.
---@return boolean
function M.native()
  return vim.lsp.inline_completion ~= nil
    and require('gemma.config').current.completion.native == 'auto'
end

local function in_insert_mode()
  return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

local function cursor()
  local pos = vim.api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

--- Cancels the buffer's request in flight, if any.
---@param bufnr integer
local function cancel_pending(bufnr)
  local st = states[bufnr]
  if st then
    client_mod.cancel_latest(st)
  end
end

--- Removes the suggestion and cancels the request in flight for `bufnr`.
---@param bufnr integer|nil
function M.clear(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  cancel_pending(bufnr)
  local st = states[bufnr]
  if st then
    st.items, st.shown, st.index, st.all_asked, st.counted = nil, nil, 1, nil, nil
  end
  ghost.clear(bufnr)
end

--- The suggestion shown in `bufnr` (what accepting would insert), or nil.
---@param bufnr integer|nil
---@return string|nil
function M.visible_text(bufnr)
  local st = states[bufnr or vim.api.nvim_get_current_buf()]
  if st and st.shown and st.items then
    return st.items[st.index].display
  end
  return nil
end

--- The id of the buffer's inline completion request in flight, or nil.
---@param bufnr integer|nil
---@return integer|nil
function M.pending_request(bufnr)
  local st = states[bufnr or vim.api.nvim_get_current_buf()]
  return st and st.pending and st.pending.id or nil
end

local byte_col = client_mod.byte_col

--- Plain text of an item's insertText (snippets are flattened to their text).
local function item_text(raw)
  local text = raw.insertText
  if type(text) == 'table' then
    local ok, parsed = pcall(function()
      return tostring(require('vim.lsp._snippet_grammar').parse(text.value))
    end)
    return ok and parsed or text.value
  end
  return text
end

--- Turns the server's items into suggestions relative to the cursor at (row, col). Items that
--- start elsewhere, or disagree with what was typed since their range started, are dropped.
---@return gemma.Suggestion[]
local function normalize(result, client, bufnr, row, col)
  local raw_items = type(result) == 'table' and (result.items or result) or {}
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local out, seen = {}, {}
  for _, raw in ipairs(raw_items) do
    local text = type(raw) == 'table' and item_text(raw) or nil
    local typed, overwrite = '', ''
    local ok = type(text) == 'string'
    if ok and raw.range then
      local s, e = raw.range.start, raw.range['end']
      local scol = byte_col(bufnr, s.line, s.character, client.offset_encoding)
      local ecol = byte_col(bufnr, e.line, e.character, client.offset_encoding)
      ok = s.line == row and scol <= col and (e.line > row or (e.line == row and ecol >= col))
      if ok then
        typed = line:sub(scol + 1, col)
        overwrite = table.concat(vim.api.nvim_buf_get_text(bufnr, row, col, e.line, ecol, {}), '\n')
      end
    end
    if ok and text:sub(1, #typed) == typed then
      local display = text:sub(#typed + 1)
      if display ~= '' and not seen[display] then
        seen[display] = true
        out[#out + 1] = {
          display = display,
          overwrite = overwrite,
          command = raw.command,
          client_id = client.id,
        }
      end
    end
  end
  return out
end

--- Exposed for the completion-menu sources (gemma.menu).
M.normalize = normalize

--- Draws the current item of `bufnr` at the cursor and remembers the state it belongs to.
---@param bufnr integer
local function render(bufnr)
  local st = states[bufnr]
  local row, col = cursor()
  local item = st.items[st.index]
  ghost.show(bufnr, row, col, item.display)
  if st.counted or #st.items > 1 then
    ghost.show_count(bufnr, row, st.index, #st.items)
  end
  st.shown = {
    row = row,
    col = col,
    line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or '',
    tick = vim.b[bufnr].changedtick,
  }
end

--- Shows the first usable item of an inlineCompletion `result` at the cursor of `bufnr` (0 or the
--- current buffer). Returns how many items were usable.
---@param bufnr integer
---@param client {id: integer, offset_encoding: string}
---@param result lsp.InlineCompletionList|lsp.InlineCompletionItem[]|nil
---@return integer
function M.present(bufnr, client, result)
  bufnr = bufnr == 0 and vim.api.nvim_get_current_buf() or bufnr
  local row, col = cursor()
  local items = normalize(result, client, bufnr, row, col)
  if #items > 0 then
    local st = state(bufnr)
    st.items, st.index = items, 1
    render(bufnr)
  end
  return #items
end

--- Asks the server for a suggestion at the cursor of the current buffer. The answer is shown,
--- or handed to `on_result(client, result)` when given (cycling merges it with what is shown).
---@param kind integer|nil InlineCompletionTriggerKind (default Automatic)
---@param on_result fun(client: vim.lsp.Client, result: any)|nil
function M.request(kind, on_result)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_mod.get(bufnr)
  if not client or not client.server_capabilities.inlineCompletionProvider then
    return
  end
  cancel_pending(bufnr)
  local st = state(bufnr)
  local row, col = cursor()
  local tick = vim.b[bufnr].changedtick
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = kind or TRIGGER_AUTOMATIC }
  local function on_answer(result)
    local here_row, here_col = cursor()
    if
      not M.enabled
      or vim.fn.pumvisible() == 1 -- a completion menu is open: ghost text would clash with it
      or vim.api.nvim_get_current_buf() ~= bufnr
      or not in_insert_mode()
      or vim.b[bufnr].changedtick ~= tick
      or here_row ~= row
      or here_col ~= col
    then
      return -- the buffer moved on: this answer is stale
    end
    if on_result then
      on_result(client, result)
    else
      M.present(bufnr, client, result)
    end
  end
  client_mod.request_latest(
    client,
    bufnr,
    st,
    'textDocument/inlineCompletion',
    params,
    'inlineCompletion',
    on_answer
  )
end

--- (Re)starts the debounce timer; when it fires in insert mode in the same buffer, requests.
---@param bufnr integer
local function schedule(bufnr)
  local cfg = require('gemma.config').current.completion
  if not (M.enabled and cfg.auto_trigger) then
    return
  end
  timer = client_mod.debounce(timer, cfg.debounce_ms, function()
    if M.enabled and vim.api.nvim_get_current_buf() == bufnr and in_insert_mode() then
      M.request(TRIGGER_AUTOMATIC)
    end
  end)
end

--- If the user typed the next characters of the suggestion, returns how many bytes; else nil.
---@param st gemma.BufState
---@param bufnr integer
---@return integer|nil
local function typed_through(st, bufnr)
  local shown = st.shown
  local row, col = cursor()
  local k = col - shown.col
  if row ~= shown.row or k <= 0 then
    return nil
  end
  local typed = st.items[st.index].display:sub(1, k)
  if #typed ~= k or typed:find('\n', 1, true) then
    return nil
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]
  local expected = shown.line:sub(1, shown.col) .. typed .. shown.line:sub(shown.col + 1)
  return line == expected and k or nil
end

--- Reacts to a text change or cursor move in insert mode.
---@param bufnr integer
function M.on_change(bufnr)
  local st = states[bufnr]
  local shown = st and st.shown
  if shown then
    local row, col = cursor()
    if vim.b[bufnr].changedtick == shown.tick and row == shown.row and col == shown.col then
      return -- nothing moved (e.g. the event our own accept caused)
    end
    local k = typed_through(st, bufnr)
    if k then
      local item = st.items[st.index]
      item.display = item.display:sub(k + 1)
      if item.display ~= '' then
        st.items, st.index, st.all_asked, st.counted = { item }, 1, nil, nil
        render(bufnr)
        return
      end
    end
  end
  M.clear(bufnr)
  schedule(bufnr)
end

--- Inserts `part` of the current suggestion (all of it when `part` is the whole remaining text).
---@param bufnr integer
---@param st gemma.BufState
---@param part string
local function insert(bufnr, st, part)
  local item = st.items[st.index]
  local whole = part == item.display
  local row, col = cursor()
  local end_row, end_col = row, col
  if whole and item.overwrite ~= '' then
    local over = vim.split(item.overwrite, '\n', { plain = true })
    end_row = row + #over - 1
    end_col = (#over == 1 and col or 0) + #over[#over]
  end
  local lines = vim.split(part, '\n', { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, col, end_row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  if whole then
    M.clear(bufnr)
    local client = vim.lsp.get_client_by_id(item.client_id)
    if item.command and client then
      client:exec_cmd(item.command, { bufnr = bufnr })
    end
  else
    item.display = item.display:sub(#part + 1)
    st.items, st.index, st.all_asked, st.counted = { item }, 1, nil, nil
    render(bufnr)
  end
end

--- The next word of `text` (with its leading blanks), or a line break and the next indentation.
---@param text string
---@return string
function M.next_word(text)
  if text:sub(1, 1) == '\n' then
    return text:match('^\n[ \t]*')
  end
  return text:match('^[ \t]*[%w_]+')
    or text:match('^[ \t]*[^%w_%s]+')
    or text:match('^[ \t]+')
    or text
end

--- The rest of the current line of `text`, or the line break and the next line.
---@param text string
---@return string
function M.next_line(text)
  if text:sub(1, 1) == '\n' then
    return text:match('^\n[^\n]*')
  end
  return text:match('^[^\n]*')
end

--- Accepts the shown suggestion: 'all' (default), 'word' or 'line'.
---
--- Promises: returns false and changes nothing when no suggestion is shown; otherwise inserts the
--- text, moves the cursor after it, and keeps the rest of a partly accepted suggestion shown.
---@param what 'all'|'word'|'line'|nil
---@return boolean accepted
function M.accept(what)
  if M.native() then
    -- The native API accepts whole suggestions only; word/line fall through to the key.
    return (what == nil or what == 'all') and vim.lsp.inline_completion.get() == true
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if not (st and st.shown and st.items) then
    return false
  end
  local display = st.items[st.index].display
  local part = display
  if what == 'word' then
    part = M.next_word(display)
  elseif what == 'line' then
    part = M.next_line(display)
  end
  insert(bufnr, st, part)
  return true
end

--- Shows the next (delta 1) or previous (-1) suggestion with "i/N"; with none shown, asks for
--- some now. An automatic request brings one item: the first cycle sends an Invoked request for
--- the same spot, which brings the alternatives (the shown one first), and cycles through them.
---@param delta integer
function M.cycle(delta)
  if M.native() then
    local ic = vim.lsp.inline_completion
    local select = ic.select or ic.jump
    if select then
      select({ count = delta })
    end
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local st = states[bufnr]
  if not (st and st.shown and st.items) then
    M.request(TRIGGER_INVOKED, function(client, result)
      if M.present(bufnr, client, result) > 0 then
        local s = state(bufnr)
        s.all_asked, s.counted = true, true
        render(bufnr)
      end
    end)
    return
  end
  local function step()
    st.index = (st.index - 1 + delta) % #st.items + 1
    st.counted = true
    render(bufnr)
  end
  if #st.items > 1 or st.all_asked then
    step()
    return
  end
  st.all_asked = true
  M.request(TRIGGER_INVOKED, function(client, result)
    if not st.items then
      return
    end
    local row, col = cursor()
    local seen = {}
    for _, item in ipairs(st.items) do
      seen[item.display] = true
    end
    for _, item in ipairs(normalize(result, client, bufnr, row, col)) do
      if not seen[item.display] then
        seen[item.display] = true
        st.items[#st.items + 1] = item
      end
    end
    step()
  end)
end

--- Hides the suggestion. Returns false when none was shown.
---@return boolean
function M.dismiss()
  local bufnr = vim.api.nvim_get_current_buf()
  local had = M.visible_text(bufnr) ~= nil
  M.clear(bufnr)
  return had
end

--- Turns completion on or off (default: flips it). Returns the new state.
---@param on boolean|nil
---@return boolean
function M.toggle(on)
  if on == nil then
    on = not M.enabled
  end
  M.enabled = on
  if M.native() then
    for _, client in ipairs(vim.lsp.get_clients({ name = client_mod.name })) do
      for bufnr in pairs(client.attached_buffers) do
        pcall(vim.lsp.inline_completion.enable, on, { bufnr = bufnr, client_id = client.id })
      end
    end
  elseif not on then
    for bufnr in pairs(states) do
      M.clear(bufnr)
    end
  end
  return on
end

--- Feeds `key` as if typed without mappings (the key's normal meaning when nothing is shown).
local function feed(key)
  vim.api.nvim_feedkeys(vim.keycode(key), 'n', false)
end

local mapped = {} ---@type string[] keys mapped by the last set_keymaps()

--- Maps the configured insert-mode keys (removing those of an earlier call). A key whose action
--- does not apply (nothing shown) falls through to its normal meaning, so mapping <Tab> is safe.
function M.set_keymaps()
  for _, key in ipairs(mapped) do
    pcall(vim.keymap.del, 'i', key)
  end
  mapped = {}
  local keys = require('gemma.config').current.completion.keymaps
  local actions = {
    accept = function()
      return M.accept('all')
    end,
    accept_word = function()
      return M.accept('word')
    end,
    accept_line = function()
      return M.accept('line')
    end,
    next = function()
      M.cycle(1)
      return true
    end,
    prev = function()
      M.cycle(-1)
      return true
    end,
    dismiss = M.dismiss,
  }
  for name, fn in pairs(actions) do
    local key = keys[name]
    if key then
      vim.keymap.set('i', key, function()
        if not fn() then
          feed(key)
        end
      end, { desc = 'Gemma: ' .. name:gsub('_', ' ') .. ' suggestion', silent = true })
      mapped[#mapped + 1] = key
    end
  end
end

--- Creates the completion autocmds in `group`.
---@param group integer
function M.create_autocmds(group)
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == client_mod.name and M.native() and M.enabled then
        pcall(vim.lsp.inline_completion.enable, true, { bufnr = args.buf, client_id = client.id })
      end
    end,
  })
  if M.native() then
    return
  end
  vim.api.nvim_create_autocmd({ 'InsertEnter', 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    callback = function(args)
      if M.enabled and client_mod.get(args.buf) then
        M.on_change(args.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    callback = function(args)
      M.clear(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd('ModeChanged', {
    group = group,
    pattern = 'i:*',
    callback = function(args)
      M.clear(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ 'BufWipeout', 'LspDetach' }, {
    group = group,
    callback = function(args)
      M.clear(args.buf)
      states[args.buf] = nil
    end,
  })
end

return M
