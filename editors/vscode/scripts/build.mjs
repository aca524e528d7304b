// Bundles the extension into dist/extension.js (one file; `vscode` is provided by the host).
// Usage: node scripts/build.mjs [--production]
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');

await esbuild.build({
    entryPoints: ['src/extension.ts'],
    bundle: true,
    outfile: 'dist/extension.js',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    minify: production,
    sourcemap: !production,
    sourcesContent: false,
    logLevel: 'warning',
});
console.log(`built dist/extension.js${production ? ' (production)' : ''}`);
