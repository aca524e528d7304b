import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DiscoveryProbes, canImportModule, discoverServer, venvPython, whichSync } from '../src/discovery';
import { installSteps } from '../src/installer';

/** Probes answering from fixed data, recording what was asked. */
function probes(found: { path?: string; selected?: string; importable?: string[]; managed?: string }) {
    const asked: string[] = [];
    const p: DiscoveryProbes = {
        which: (name) => { asked.push(`which ${name}`); return Promise.resolve(found.path); },
        selectedPython: () => { asked.push('selected'); return Promise.resolve(found.selected); },
        canImport: (python) => { asked.push(`import ${python}`); return Promise.resolve(found.importable?.includes(python) ?? false); },
        managedPython: () => { asked.push('managed'); return Promise.resolve(found.managed); },
    };
    return { p, asked };
}
const none = { serverCommand: [], serverInterpreter: '' };

describe('server discovery', () => {
    it('uses gemma.server.command first, without probing', async () => {
        const { p, asked } = probes({ path: '/usr/bin/gemma-lsp' });
        const cmd = await discoverServer({ serverCommand: ['/x/python', '-m', 'gemma_lsp', '--model', 'tiny'], serverInterpreter: '/y' }, p);
        assert.deepEqual(cmd, { command: '/x/python', args: ['-m', 'gemma_lsp', '--model', 'tiny'], source: 'setting' });
        assert.deepEqual(asked, []);
    });

    it('then gemma.server.interpreter with -m gemma_lsp', async () => {
        const { p } = probes({ path: '/usr/bin/gemma-lsp' });
        assert.deepEqual(await discoverServer({ serverCommand: [], serverInterpreter: '/venv/bin/python' }, p),
            { command: '/venv/bin/python', args: ['-m', 'gemma_lsp'], source: 'interpreterSetting' });
    });

    it('then gemma-lsp on PATH', async () => {
        const { p, asked } = probes({ path: '/usr/local/bin/gemma-lsp', selected: '/py' });
        assert.deepEqual(await discoverServer(none, p), { command: '/usr/local/bin/gemma-lsp', args: [], source: 'path' });
        assert.deepEqual(asked, ['which gemma-lsp']);
    });

    it('then the selected Python interpreter, only when gemma_lsp imports there', async () => {
        const { p } = probes({ selected: '/proj/.venv/bin/python', importable: ['/proj/.venv/bin/python'] });
        assert.deepEqual(await discoverServer(none, p), { command: '/proj/.venv/bin/python', args: ['-m', 'gemma_lsp'], source: 'pythonExtension' });
    });

    it('then the extension-managed environment', async () => {
        const { p, asked } = probes({ selected: '/usr/bin/python3', managed: '/store/venv/bin/python', importable: ['/store/venv/bin/python'] });
        assert.deepEqual(await discoverServer(none, p), { command: '/store/venv/bin/python', args: ['-m', 'gemma_lsp'], source: 'managedEnv' });
        assert.deepEqual(asked, ['which gemma-lsp', 'selected', 'import /usr/bin/python3', 'managed', 'import /store/venv/bin/python']);
    });

    it('finds nothing when no candidate works (the caller then offers to install)', async () => {
        const { p } = probes({ selected: '/usr/bin/python3', managed: '/store/venv/bin/python' });
        assert.equal(await discoverServer(none, p), undefined);
    });
});

describe('system probes', () => {
    it('whichSync finds executables on a PATH and skips non-executable files', () => {
        const dir = mkdtempSync(path.join(tmpdir(), 'gemma-which-'));
        const a = path.join(dir, 'a');
        const b = path.join(dir, 'b');
        mkdirSync(a);
        mkdirSync(b);
        writeFileSync(path.join(a, 'gemma-lsp'), '#!/bin/sh\n');
        writeFileSync(path.join(b, 'gemma-lsp'), '#!/bin/sh\n');
        chmodSync(path.join(b, 'gemma-lsp'), 0o755);
        assert.equal(whichSync('gemma-lsp', [a, b].join(path.delimiter)), path.join(b, 'gemma-lsp'));
        assert.equal(whichSync('gemma-lsp', a), undefined);
        assert.equal(whichSync('gemma-lsp', ''), undefined);
    });

    it('venvPython finds the interpreter of a virtual environment folder', () => {
        const dir = mkdtempSync(path.join(tmpdir(), 'gemma-venv-'));
        assert.equal(venvPython(dir), undefined);
        mkdirSync(path.join(dir, 'bin'));
        writeFileSync(path.join(dir, 'bin', 'python'), '');
        assert.equal(venvPython(dir), path.join(dir, 'bin', 'python'));
    });

    it('canImportModule runs a real interpreter', async () => {
        const python = whichSync('python3');
        if (!python) return;
        assert.equal(await canImportModule(python, 'json'), true);
        assert.equal(await canImportModule(python, 'no_such_module_gemma_test'), false);
        assert.equal(await canImportModule('/nonexistent/python', 'json'), false);
    });

    it('installs into a venv in three steps', () => {
        const steps = installSteps('/usr/bin/python3', '/store/venv', 'gemma-lsp==0.1');
        assert.deepEqual(steps.map((s) => s.argv), [
            ['/usr/bin/python3', '-m', 'venv', '/store/venv'],
            ['/store/venv/bin/python', '-m', 'pip', 'install', '--upgrade', 'pip'],
            ['/store/venv/bin/python', '-m', 'pip', 'install', '--upgrade', 'gemma-lsp==0.1'],
        ]);
    });
});
