--- Configuration: the defaults, and validation of what the user passes to setup().
---
--- Invalid options are reported once with vim.notify and the default is used instead, so a typo in
--- a config never leaves the editor without the plugin.
local M = {}

---@class gemma.Keymaps
---@field accept string|false
---@field accept_word string|false
---@field accept_line string|false
---@field next string|false
---@field prev string|false
---@field dismiss string|false

---@class gemma.Config
M.defaults = {
  server = {
    -- How to start the server; e.g. { 'python3', '-m', 'gemma_lsp', '--model', 'tiny' }.
    cmd = { 'gemma-lsp' },
    -- Extra environment for the server process (e.g. { PYTHONPATH = '...' }).
    cmd_env = nil,
    filetypes = {
      'python',
      'javascript',
      'javascriptreact',
      'typescript',
      'typescriptreact',
      'go',
      'rust',
      'java',
      'c',
      'cpp',
    },
    root_markers = {
      '.git',
      'pyproject.toml',
      'setup.py',
      'package.json',
      'go.mod',
      'Cargo.toml',
      'pom.xml',
      'build.gradle',
      'Makefile',
      'CMakeLists.txt',
    },
    -- Server settings (docs/protocol.md "Settings"), e.g. { model = 'e4b', drafter = true }.
    settings = {},
    -- Start the server for the filetypes above (vim.lsp.enable). false: only on :GemmaRestart.
    autostart = true,
  },
  completion = {
    enabled = true,
    -- Ask for a suggestion after typing stops; false: only when `next` is pressed.
    auto_trigger = true,
    debounce_ms = 150,
    -- 'auto': vim.lsp.inline_completion on Neovim 0.12+, the plugin's ghost text on 0.11.
    -- false: always the plugin's ghost text (the only path with accept_word/accept_line).
    native = 'auto',
    ---@type gemma.Keymaps
    keymaps = {
      accept = '<M-l>',
      accept_word = '<M-Right>',
      accept_line = '<M-Down>',
      next = '<M-]>',
      prev = '<M-[>',
      dismiss = '<C-]>',
    },
  },
  float = {
    border = 'rounded',
    max_width = 100,
    max_height = 30,
  },
  debug = {
    -- What to do with an edit a debug session proposes: 'ask', 'apply' or 'ignore'.
    apply_edit = 'ask',
  },
  -- Show $/progress from gemma-lsp: 'echo' (command line), 'notify' (vim.notify) or false.
  progress = 'echo',
  -- Add the gemma component (state, spinner) to 'statusline' when you have not set one.
  statusline = true,
  log = {
    max_entries = 2000,
  },
}

---@type gemma.Config
M.current = vim.deepcopy(M.defaults)

local function is_key(v)
  return v == false or type(v) == 'string'
end

local function is_list_of_strings(v)
  return type(v) == 'table' and vim.iter(v):all(function(s)
    return type(s) == 'string'
  end)
end

--- Validators per dotted option path: a predicate and a description of what is expected.
---@type table<string, {[1]: fun(v: any): boolean, [2]: string}>
local schema = {
  ['server.cmd'] = {
    function(v)
      return is_list_of_strings(v) and #v > 0
    end,
    'a non-empty list of strings',
  },
  ['server.cmd_env'] = {
    function(v)
      return v == nil or type(v) == 'table'
    end,
    'a table of environment variables',
  },
  ['server.filetypes'] = { is_list_of_strings, 'a list of filetypes' },
  ['server.root_markers'] = { is_list_of_strings, 'a list of file names' },
  ['server.settings'] = {
    function(v)
      return type(v) == 'table'
    end,
    'a table (see docs/protocol.md)',
  },
  ['server.autostart'] = {
    function(v)
      return type(v) == 'boolean'
    end,
    'a boolean',
  },
  ['completion.enabled'] = {
    function(v)
      return type(v) == 'boolean'
    end,
    'a boolean',
  },
  ['completion.auto_trigger'] = {
    function(v)
      return type(v) == 'boolean'
    end,
    'a boolean',
  },
  ['completion.debounce_ms'] = {
    function(v)
      return type(v) == 'number' and v >= 0 and v == math.floor(v)
    end,
    'a whole number of milliseconds >= 0',
  },
  ['completion.native'] = {
    function(v)
      return v == 'auto' or v == false
    end,
    "'auto' or false",
  },
  ['completion.keymaps.accept'] = { is_key, 'a key (string) or false' },
  ['completion.keymaps.accept_word'] = { is_key, 'a key (string) or false' },
  ['completion.keymaps.accept_line'] = { is_key, 'a key (string) or false' },
  ['completion.keymaps.next'] = { is_key, 'a key (string) or false' },
  ['completion.keymaps.prev'] = { is_key, 'a key (string) or false' },
  ['completion.keymaps.dismiss'] = { is_key, 'a key (string) or false' },
  ['float.border'] = {
    function(v)
      return type(v) == 'string' or type(v) == 'table'
    end,
    'a border name or list (see :h nvim_open_win)',
  },
  ['float.max_width'] = {
    function(v)
      return type(v) == 'number' and v >= 20
    end,
    'a number >= 20',
  },
  ['float.max_height'] = {
    function(v)
      return type(v) == 'number' and v >= 3
    end,
    'a number >= 3',
  },
  ['debug.apply_edit'] = {
    function(v)
      return v == 'ask' or v == 'apply' or v == 'ignore'
    end,
    "'ask', 'apply' or 'ignore'",
  },
  ['progress'] = {
    function(v)
      return v == 'echo' or v == 'notify' or v == false
    end,
    "'echo', 'notify' or false",
  },
  ['statusline'] = {
    function(v)
      return type(v) == 'boolean'
    end,
    'a boolean',
  },
  ['log.max_entries'] = {
    function(v)
      return type(v) == 'number' and v >= 1
    end,
    'a number >= 1',
  },
}

--- Tables whose contents are free-form (passed through, not checked key by key).
local opaque = { ['server.settings'] = true, ['server.cmd_env'] = true }

--- Walks `user` against `defaults`, collecting unknown keys and invalid values.
---@param user table
---@param defaults table
---@param prefix string
---@param errors string[]
---@return table merged
local function merge(user, defaults, prefix, errors)
  local out = vim.deepcopy(defaults)
  for key, value in pairs(user) do
    local path = prefix == '' and tostring(key) or (prefix .. '.' .. tostring(key))
    local rule = schema[path]
    local default = defaults[key]
    if rule then
      if rule[1](value) then
        out[key] = vim.deepcopy(value)
      else
        errors[#errors + 1] =
          string.format('%s: expected %s, got %s', path, rule[2], vim.inspect(value))
      end
    elseif type(default) == 'table' and not opaque[path] then
      if type(value) == 'table' then
        out[key] = merge(value, default, path, errors)
      else
        errors[#errors + 1] =
          string.format('%s: expected a table, got %s', path, vim.inspect(value))
      end
    else
      errors[#errors + 1] = string.format('%s: unknown option', path)
    end
  end
  return out
end

--- Merges user options over the defaults.
---
--- Promises: the result is always a complete, valid config; every rejected option is named in
--- `errors` (empty when everything was accepted).
---@param user table|nil
---@return gemma.Config config, string[] errors
function M.resolve(user)
  local errors = {}
  if user ~= nil and type(user) ~= 'table' then
    return vim.deepcopy(M.defaults), { 'setup() expects a table, got ' .. type(user) }
  end
  local config = merge(user or {}, M.defaults, '', errors)
  return config, errors
end

return M
