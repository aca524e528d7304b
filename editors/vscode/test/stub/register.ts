/**
 * Preloaded by the unit tests (`node --require`): makes `require('vscode')` return the stand-in module
 * in ./vscode, since the real one exists only inside VS Code's extension host.
 */
import Module from 'node:module';
import * as path from 'node:path';

const stub = path.join(__dirname, 'vscode.js');
type Resolve = (request: string, ...rest: unknown[]) => string;
const mod = Module as unknown as { _resolveFilename: Resolve };
const original = mod._resolveFilename;
mod._resolveFilename = function (request: string, ...rest: unknown[]): string {
    return request === 'vscode' ? stub : original.call(this, request, ...rest);
};
