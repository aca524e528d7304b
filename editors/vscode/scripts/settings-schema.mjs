// Writes (--write) or checks (--check) package.json's contributes.configuration.properties against
// the settings table in src/settings.ts (through src/schema.ts).
import * as esbuild from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { outputFiles } = await esbuild.build({ entryPoints: ['src/schema.ts'], bundle: true, platform: 'node', format: 'cjs', write: false });
const module = { exports: {} };
new Function('module', 'exports', 'require', outputFiles[0].text)(module, module.exports, createRequire(import.meta.url));
const properties = module.exports.configurationProperties();

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const current = JSON.stringify(pkg.contributes?.configuration?.properties ?? {});
if (process.argv.includes('--write')) {
    pkg.contributes.configuration = { title: 'Gemma', properties };
    writeFileSync('package.json', JSON.stringify(pkg, null, 2) + '\n');
    console.log(`wrote ${Object.keys(properties).length} settings into package.json`);
} else if (current !== JSON.stringify(properties)) {
    console.error('package.json contributes.configuration is out of date: run node scripts/settings-schema.mjs --write');
    process.exit(1);
} else {
    console.log('package.json settings match src/settings.ts');
}
