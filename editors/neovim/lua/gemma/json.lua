--- Pretty-printing JSON for :GemmaContext (vim.json.encode has no indent option on 0.11).
local M = {}

local function is_array(t)
  if getmetatable(t) == vim._empty_dict_mt then
    return false
  end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= 'number' then
      return false
    end
    n = n + 1
  end
  return n == #t and (n > 0 or getmetatable(t) ~= vim._empty_dict_mt)
end

--- Encodes `value` as indented JSON with object keys sorted, so the output is stable.
---@param value any
---@param indent string|nil
---@return string
function M.pretty(value, indent)
  indent = indent or ''
  local inner = indent .. '  '
  if type(value) ~= 'table' or value == vim.NIL then
    return vim.json.encode(value)
  end
  if next(value) == nil then
    return is_array(value) and '[]' or '{}'
  end
  local parts = {}
  if is_array(value) then
    for _, v in ipairs(value) do
      parts[#parts + 1] = inner .. M.pretty(v, inner)
    end
    return '[\n' .. table.concat(parts, ',\n') .. '\n' .. indent .. ']'
  end
  local keys = vim.tbl_keys(value)
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(keys) do
    parts[#parts + 1] = inner .. vim.json.encode(tostring(k)) .. ': ' .. M.pretty(value[k], inner)
  end
  return '{\n' .. table.concat(parts, ',\n') .. '\n' .. indent .. '}'
end

return M
