import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
    SETTINGS,
    checkValue,
    clientSettings,
    initializationOptions,
    inlineEnabled,
    nest,
    serverSettings,
} from '../src/settings';

const reader = (values: Record<string, unknown>) => ({ get: <T>(key: string) => values[key] as T | undefined });

describe('settings', () => {
    it('uses the defaults when nothing is set, and sends only server keys, nested', () => {
        const { settings, problems } = serverSettings(reader({}));
        assert.deepEqual(problems, []);
        assert.equal(settings.model, 'auto');
        assert.deepEqual(settings.remote, { url: 'http://127.0.0.1:8000/v1', model: null, apiKeyEnv: 'GEMMA_LSP_API_KEY', timeoutSeconds: 60 });
        assert.deepEqual(settings.debug, { maxToolCalls: 12, maxTokens: 4096, maxSeconds: 300, thinking: false, showThoughts: false });
        assert.equal(settings.server, undefined, 'client-only keys must not reach the server');
        assert.equal(settings.inline, undefined);
    });

    it('passes valid user values through', () => {
        const { settings, problems } = serverSettings(reader({ model: 'tiny', draftTokens: 8, device: 'cuda:1', 'tests.command': ['pytest', '-x'] }));
        assert.deepEqual(problems, []);
        assert.equal(settings.model, 'tiny');
        assert.equal(settings.draftTokens, 8);
        assert.equal(settings.device, 'cuda:1');
        assert.deepEqual(settings.tests, { command: ['pytest', '-x'] });
    });

    it('replaces invalid values by the default and names the key', () => {
        const { settings, problems } = serverSettings(reader({ draftTokens: 99, engine: 'cloud', device: 'gpu', drafter: 'yes', maxNewTokens: 1.5 }));
        assert.equal(settings.draftTokens, 4);
        assert.equal(settings.engine, 'local');
        assert.equal(settings.device, 'auto');
        assert.equal(settings.drafter, true);
        assert.equal(settings.maxNewTokens, 128);
        assert.deepEqual(problems.map((p) => p.key).sort(), ['gemma.device', 'gemma.draftTokens', 'gemma.drafter', 'gemma.engine', 'gemma.maxNewTokens']);
        assert.match(problems.find((p) => p.key === 'gemma.draftTokens')!.message, /at most 16; using 4/);
    });

    it('checks each kind of value', () => {
        assert.equal(checkValue({ type: 'integer', minimum: 1 }, 0), 'must be at least 1');
        assert.equal(checkValue({ type: 'nullableString' }, null), undefined);
        assert.equal(checkValue({ type: 'number', exclusiveMinimum: 0 }, 0), 'must be more than 0');
        assert.equal(checkValue({ type: 'number', exclusiveMinimum: 0 }, 2.5), undefined);
        assert.equal(checkValue({ type: 'stringArray' }, ['a', 1]), 'expected a list of strings');
        assert.equal(checkValue({ type: 'nullableStringArray' }, null), undefined);
        assert.equal(checkValue({ type: 'stringMap' }, { A: 'b' }), undefined);
        assert.equal(checkValue({ type: 'stringMap' }, { A: 2 }), 'expected an object of string values');
        assert.equal(checkValue({ type: 'string', pattern: '^(auto|cpu|cuda|cuda:[0-9]+)$' }, 'cuda:x'), 'does not match ^(auto|cpu|cuda|cuda:[0-9]+)$');
    });

    it('reads the client settings with defaults', () => {
        const { settings, problems } = clientSettings(reader({ 'server.command': ['py', '-m', 'gemma_lsp'], 'inline.debounceMs': -5 }));
        assert.deepEqual(settings.serverCommand, ['py', '-m', 'gemma_lsp']);
        assert.equal(settings.inlineDebounceMs, 150);
        assert.equal(settings.installSpec, 'gemma-lsp');
        assert.deepEqual(problems.map((p) => p.key), ['gemma.inline.debounceMs']);
    });

    it('says in initializationOptions that this client renders explanations and that it is VS Code', () => {
        const options = initializationOptions(reader({ model: 'tiny' })) as { gemma: Record<string, unknown> };
        assert.equal(options.gemma.clientRendersExplanations, true);
        assert.equal(options.gemma.client, 'vscode', 'the server names settings as VS Code spells them (docs/protocol.md)');
        assert.equal(options.gemma.model, 'tiny');
    });

    it('nests dotted keys', () => {
        assert.deepEqual(nest(new Map<string, string>([['a.b.c', 'x'], ['a.d', 'y'], ['e', 'z']])), { a: { b: { c: 'x' }, d: 'y' }, e: 'z' });
    });

    it('treats inline completions as on unless the language turned them off', () => {
        assert.equal(inlineEnabled(reader({})), true);
        assert.equal(inlineEnabled(reader({ 'inline.enabled': false })), false);
    });

    it('sends every server key of the generated table, with its default, and no client key', () => {
        const { settings } = serverSettings(reader({}));
        const sent = new Map<string, unknown>();
        const walk = (node: Record<string, unknown>, prefix: string) => {
            for (const [k, v] of Object.entries(node)) {
                if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, `${prefix}${k}.`);
                else sent.set(`${prefix}${k}`, v);
            }
        };
        walk(settings, '');
        const serverKeys = SETTINGS.filter((s) => s.audience === 'server');
        assert.ok(serverKeys.length >= 20);
        assert.deepEqual([...sent.keys()].sort(), serverKeys.map((s) => s.key).sort());
        for (const spec of serverKeys) assert.deepEqual(sent.get(spec.key), spec.default, spec.key);
    });
});
