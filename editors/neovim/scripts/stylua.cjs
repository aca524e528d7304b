// Formats the plugin's Lua with StyLua's WebAssembly build (npm: @johnnymorganz/stylua), so no
// native binary has to be downloaded. Settings come from .stylua.toml.
//   node scripts/stylua.cjs           format in place
//   node scripts/stylua.cjs --check   list files that need formatting; exit 1 if any
const fs = require('fs');
const path = require('path');
const stylua = require('@johnnymorganz/stylua');

const root = path.resolve(__dirname, '..');
const check = process.argv.includes('--check');

// .stylua.toml holds only `key = value` lines: enough to parse here without a TOML library.
function loadConfig() {
  const config = stylua.Config.new();
  const enums = {
    indent_type: stylua.IndentType,
    quote_style: stylua.QuoteStyle,
    call_parentheses: stylua.CallParenType,
    line_endings: stylua.LineEndings,
  };
  for (const line of fs.readFileSync(path.join(root, '.stylua.toml'), 'utf8').split('\n')) {
    const m = line.match(/^\s*(\w+)\s*=\s*"?([^"#]*?)"?\s*$/);
    if (!m) continue;
    const [, key, value] = m;
    config[key] = enums[key] ? enums[key][value] : Number(value);
  }
  return config;
}

function luaFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : luaFiles(p);
    return e.name.endsWith('.lua') ? [p] : [];
  });
}

const files = [...luaFiles(root), ...luaFiles(path.resolve(root, '../../tests/neovim'))];
let unformatted = 0;
for (const file of files) {
  const source = fs.readFileSync(file, 'utf8');
  // formatCode takes ownership of the config (wasm-bindgen moves it): build one per file.
  const formatted = stylua.formatCode(source, loadConfig(), null, stylua.OutputVerification.Full);
  if (formatted === source) continue;
  unformatted++;
  if (check) console.log(`needs formatting: ${path.relative(root, file)}`);
  else fs.writeFileSync(file, formatted);
}
console.log(`${files.length} Lua files, ${unformatted} ${check ? 'need formatting' : 'formatted'}`);
process.exit(check && unformatted ? 1 : 0);
