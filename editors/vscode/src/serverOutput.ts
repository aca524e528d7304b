/**
 * The server's stderr in the Gemma log at the right level. gemma-lsp logs Python `logging` lines
 * ("2026-01-01 12:00:00,000 WARNING gemma_lsp.x: text") to stderr and, once the client is connected,
 * the same messages (INFO and up) as `window/logMessage`. The client library would log every stderr
 * line as an error; here a line keeps its own level, INFO and DEBUG drop to debug (their copy arrives
 * through the protocol), and anything else (a traceback, a crash before LSP is up) stays an error.
 */
import * as readline from 'node:readline';
import type { Readable } from 'node:stream';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Minimal part of `vscode.LogOutputChannel` used here. */
export interface LevelLog {
    debug(message: string): void;
    info(message: string): void;
    warn(message: string): void;
    error(message: string): void;
}

const LEVEL = /^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;

/** The level a stderr line is logged at (see the module comment). */
export function stderrLevel(line: string): LogLevel {
    const match = LEVEL.exec(line);
    if (!match) return 'error';
    switch (match[1]) {
        case 'DEBUG':
        case 'INFO':
            return 'debug';
        case 'WARNING':
            return 'warn';
        default:
            return 'error';
    }
}

/** Streams a server's stderr into `log`, line by line, at each line's level. */
export function pipeStderr(input: Readable, log: LevelLog): void {
    readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => {
        if (line.trim()) log[stderrLevel(line)](line);
    });
}

/** Streams stdout (only used by non-stdio transports) into `log` at info level. */
export function pipeStdout(input: Readable, log: LevelLog): void {
    readline.createInterface({ input, crlfDelay: Infinity, terminal: false }).on('line', (line) => log.info(line));
}
