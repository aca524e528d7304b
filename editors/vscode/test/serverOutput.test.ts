import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { LevelLog, pipeStderr, stderrLevel } from '../src/serverOutput';

describe('server stderr in the log', () => {
    it('keeps warnings and errors, demotes info and debug, treats the unknown as errors', () => {
        assert.equal(stderrLevel('2026-11-29 04:34:40,280 INFO gemma_lsp.lsp.server: engine ready'), 'debug');
        assert.equal(stderrLevel('2026-11-29 04:34:40,280 DEBUG gemma_lsp.x: y'), 'debug');
        assert.equal(stderrLevel('2026-11-29 04:34:40,280 WARNING gemma_lsp.engine.scripted: scripted engine'), 'warn');
        assert.equal(stderrLevel('2026-11-29 04:34:40,280 ERROR gemma_lsp.lsp.server: loading failed'), 'error');
        assert.equal(stderrLevel('2026-11-29 04:34:40,280 CRITICAL gemma_lsp: boom'), 'error');
        assert.equal(stderrLevel('Traceback (most recent call last):'), 'error');
        assert.equal(stderrLevel('ModuleNotFoundError: No module named \'pygls\''), 'error');
    });

    it('pipes a stream line by line at each level', async () => {
        const seen: string[] = [];
        const log: LevelLog = {
            debug: (m) => seen.push(`debug ${m}`),
            info: (m) => seen.push(`info ${m}`),
            warn: (m) => seen.push(`warn ${m}`),
            error: (m) => seen.push(`error ${m}`),
        };
        const input = new PassThrough();
        pipeStderr(input, log);
        input.end('2026-01-01 00:00:00,000 WARNING a: w\n\n2026-01-01 00:00:00,000 INFO a: i\nTraceback\n');
        await new Promise((resolve) => setImmediate(resolve));
        assert.deepEqual(seen, ['warn 2026-01-01 00:00:00,000 WARNING a: w', 'debug 2026-01-01 00:00:00,000 INFO a: i', 'error Traceback']);
    });
});
