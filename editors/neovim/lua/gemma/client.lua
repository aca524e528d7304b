--- The gemma-lsp client: its vim.lsp.config, finding it for a buffer, restarting it, and what it
--- last reported through `gemma/status`.
local log = require('gemma.log')

local M = {}

M.name = 'gemma'

--- Last `gemma/status` per client id: {state, model, message}.
---@type table<integer, {state: string, model?: string, message?: string}>
M.status = {}

--- The gemma client attached to `bufnr` (default: current buffer), or nil.
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.get(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  return vim.lsp.get_clients({ name = M.name, bufnr = bufnr })[1]
end

--- Any running gemma client (for commands that need no buffer), or nil.
---@return vim.lsp.Client|nil
function M.any()
  return vim.lsp.get_clients({ name = M.name })[1]
end

--- The gemma client for `bufnr`, or nil after telling the user why there is none.
---@param bufnr integer|nil
---@return vim.lsp.Client|nil
function M.require(bufnr)
  local client = M.get(bufnr)
  if not client then
    vim.notify(
      'gemma: no gemma-lsp client is attached to this buffer (see :checkhealth gemma)',
      vim.log.levels.WARN
    )
  end
  return client
end

--- Sends workspace/executeCommand `command` with `arguments` and calls `on_result(err, result)`
--- on the main loop. Returns the request id (for cancel_request), or nil if it could not be sent.
---@param client vim.lsp.Client
---@param bufnr integer
---@param command string
---@param arguments any[]
---@param on_result fun(err: lsp.ResponseError|nil, result: any)
---@param extra table|nil extra params fields, e.g. { workDoneToken = '...' }
---@return integer|nil request_id
function M.execute(client, bufnr, command, arguments, on_result, extra)
  local params = vim.tbl_extend('force', extra or {}, { command = command, arguments = arguments })
  local ok, id = client:request('workspace/executeCommand', params, function(err, result)
    on_result(err, result)
  end, bufnr)
  if not ok then
    vim.notify('gemma: could not send ' .. command .. ' (server stopped?)', vim.log.levels.ERROR)
    return nil
  end
  return id
end

--- Sends `method` as the one request in flight for a feature's per-buffer state `st`: it becomes
--- `st.pending` (which cancel_latest cancels), and the answer to a request that is no longer
--- `st.pending` (superseded or cancelled) is dropped. An error is logged (DEBUG, prefixed `what`);
--- a result goes to `on_result(result)`.
---@param client vim.lsp.Client
---@param bufnr integer
---@param st {pending: {client: vim.lsp.Client, id: integer}|nil}
---@param method string
---@param params table
---@param what string
---@param on_result fun(result: any)
function M.request_latest(client, bufnr, st, method, params, what, on_result)
  local request = { client = client }
  local ok, id = client:request(method, params, function(err, result)
    if st.pending ~= request then
      return -- superseded or cancelled
    end
    st.pending = nil
    if err then
      log.add('DEBUG', what .. ': ' .. tostring(err.message))
      return
    end
    on_result(result)
  end, bufnr)
  if ok and id then
    request.id = id
    st.pending = request
  end
end

--- Cancels `st.pending`, the request request_latest has in flight, if any.
---@param st {pending: {client: vim.lsp.Client, id: integer}|nil}
function M.cancel_latest(st)
  if st.pending then
    pcall(st.pending.client.cancel_request, st.pending.client, st.pending.id)
    st.pending = nil
  end
end

--- (Re)starts `timer` (a new one when nil) so that `fn` runs on the main loop after `ms` of quiet;
--- returns the timer to keep for the next call.
---@param timer uv.uv_timer_t|nil
---@param ms integer
---@param fn fun()
---@return uv.uv_timer_t
function M.debounce(timer, ms, fn)
  timer = timer or assert(vim.uv.new_timer())
  timer:stop()
  timer:start(ms, 0, vim.schedule_wrap(fn))
  return timer
end

--- Byte column of the LSP position (`character` in `encoding`) on line `row` of `bufnr`, clamped to
--- the line.
---@param bufnr integer
---@param row integer
---@param character integer
---@param encoding string
---@return integer
function M.byte_col(bufnr, row, character, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  return ok and col or #line
end

-- vim.lsp.buf.code_action() only sends a client the diagnostics that client published itself.
-- gemma-lsp publishes none: it explains and fixes the diagnostics of other servers and linters.
-- So the gemma client fills in every diagnostic under the requested range before sending.
---@param client vim.lsp.Client
local function include_all_diagnostics(client)
  local request = client.request
  ---@diagnostic disable-next-line: duplicate-set-field
  client.request = function(self, method, params, handler, bufnr)
    if method == 'textDocument/codeAction' and type(params) == 'table' and params.context then
      local diags = params.context.diagnostics
      if diags == nil or #diags == 0 then
        local buf = vim._resolve_bufnr(bufnr)
        params = vim.deepcopy(params)
        params.context.diagnostics = require('gemma.diagnostics').in_range(buf, params.range)
      end
    end
    return request(self, method, params, handler, bufnr)
  end
end

--- Models already announced as placeholders (the notice is shown once per model).
local placeholder_noticed = {} ---@type table<string, true>

--- Tells the user once that the model is a placeholder (random weights: `tiny`), which explains
--- why suggestions are gibberish or mostly empty.
---@param status table
local function notice_placeholder(status)
  local model = tostring(status.model or '?')
  if status.placeholder ~= true or placeholder_noticed[model] then
    return
  end
  placeholder_noticed[model] = true
  -- One short line: a longer one would stop the editor with a hit-enter prompt at start.
  vim.notify(
    string.format(
      "gemma: model '%s' is a placeholder (random weights): set server.settings.model",
      model
    ),
    vim.log.levels.WARN
  )
end

--- Records `gemma/status` and lets statuslines redraw (User GemmaStatus).
local function on_status(_, result, ctx)
  if type(result) ~= 'table' then
    return
  end
  M.status[ctx.client_id] = result
  require('gemma.progress').set_generating(ctx.client_id, result.state == 'generating')
  if result.state == 'ready' then
    notice_placeholder(result)
  end
  log.add(
    result.state == 'error' and 'ERROR' or 'INFO',
    string.format('status %s %s %s', result.state, result.model or '', result.message or '')
  )
  vim.api.nvim_exec_autocmds('User', { pattern = 'GemmaStatus', modeline = false, data = result })
  -- The statusline component shows the state: draw it now, not at the next keystroke.
  pcall(vim.cmd.redrawstatus)
end

local function on_log_message(err, result, ctx)
  if type(result) == 'table' and result.message then
    log.add(log.level_name(result.type), result.message)
  end
  return vim.lsp.handlers['window/logMessage'](err, result, ctx)
end

local function on_show_message(err, result, ctx)
  if type(result) == 'table' and result.message then
    log.add(log.level_name(result.type), result.message)
  end
  return vim.lsp.handlers['window/showMessage'](err, result, ctx)
end

--- The vim.lsp.config for gemma-lsp built from the current plugin config.
---@return vim.lsp.Config
function M.lsp_config()
  local cfg = require('gemma.config').current.server
  -- Explanations are rendered by this plugin (float), so the server must not open documents.
  -- `client` lets the server name settings as setup() spells them (server.settings.model).
  local settings =
    vim.tbl_extend('force', cfg.settings, { clientRendersExplanations = true, client = 'neovim' })
  return {
    cmd = cfg.cmd,
    cmd_env = cfg.cmd_env,
    filetypes = cfg.filetypes,
    root_markers = cfg.root_markers,
    init_options = { gemma = settings },
    -- An empty Lua table would go out as a JSON array ("gemma.gemma: unknown setting").
    settings = { gemma = next(cfg.settings) and cfg.settings or vim.empty_dict() },
    capabilities = {
      textDocument = { inlineCompletion = { dynamicRegistration = false } },
    },
    handlers = {
      ['gemma/status'] = on_status,
      ['window/logMessage'] = on_log_message,
      ['window/showMessage'] = on_show_message,
    },
    commands = require('gemma.actions').client_commands(),
    on_init = function(client, result)
      include_all_diagnostics(client)
      local info = result and result.serverInfo or {}
      log.add('INFO', string.format('started %s %s', info.name or 'server', info.version or ''))
    end,
    on_exit = function(code, signal, client_id)
      M.status[client_id] = nil
      vim.schedule(function()
        require('gemma.progress').forget_client(client_id)
      end)
      log.add(
        code == 0 and 'INFO' or 'ERROR',
        string.format('server exited (code %d, signal %d)', code, signal)
      )
    end,
  }
end

--- Registers the config with vim.lsp.config and enables it when autostart is on.
function M.setup()
  vim.lsp.config(M.name, M.lsp_config())
  if require('gemma.config').current.server.autostart then
    vim.lsp.enable(M.name)
  end
end

--- Stops every gemma client and starts the server again for the open buffers.
---
--- Promises: returns at once; the new client attaches once the old ones have exited (or been
--- killed after 3 s).
function M.restart()
  local clients = vim.lsp.get_clients({ name = M.name })
  for _, c in ipairs(clients) do
    c:stop()
  end
  local waited = 0
  local timer = assert(vim.uv.new_timer())
  timer:start(
    50,
    50,
    vim.schedule_wrap(function()
      waited = waited + 50
      local alive = vim.tbl_filter(function(c)
        return not c:is_stopped()
      end, clients)
      if #alive > 0 and waited < 3000 then
        return
      end
      for _, c in ipairs(alive) do
        c:stop(true)
      end
      timer:stop()
      timer:close()
      log.add('INFO', 'restarting gemma-lsp')
      vim.lsp.config(M.name, M.lsp_config())
      -- enable() re-runs the FileType logic for every open buffer, which starts the server again.
      vim.lsp.enable(M.name)
    end)
  )
end

--- One short line for statuslines: "gemma: ready (tiny)" when idle, "⠙ gemma: explaining…" with
--- a spinner while a request runs; '' when no client is running.
---@return string
function M.statusline()
  local client = M.get() or M.any()
  if not client then
    return ''
  end
  local progress = require('gemma.progress')
  local doing = progress.current()
  if doing then
    return string.format('%s gemma: %s', progress.spinner(), doing)
  end
  local s = M.status[client.id]
  if not s then
    return 'gemma: starting'
  end
  return string.format('gemma: %s%s', s.state, s.model and (' (' .. s.model .. ')') or '')
end

return M
