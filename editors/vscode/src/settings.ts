/**
 * The `gemma.*` settings: reading and checking them with the table in settingsTable.ts (type, default,
 * bounds, whether the server or the extension reads each key). That table and package.json's
 * `contributes.configuration` are generated from the server's schema (server/gemma_lsp/config.py) by
 * `python -m gemma_lsp.settings_docs --write`; a server test fails when they are out of date.
 */
import { SETTINGS } from './settingsTable';

export { SETTINGS };

/** How a setting's value is checked. */
export type SettingKind =
    | { type: 'string'; enum?: readonly string[]; pattern?: string }
    | { type: 'nullableString' }
    | { type: 'boolean' }
    | { type: 'integer'; minimum?: number; maximum?: number }
    | { type: 'number'; exclusiveMinimum?: number }
    | { type: 'stringArray' }
    | { type: 'nullableStringArray' }
    | { type: 'stringMap' };

export type SettingValue = string | boolean | number | string[] | Record<string, string> | null;

export interface SettingSpec {
    /** Key under `gemma.` (dotted, as VS Code and docs/protocol.md write it). */
    key: string;
    kind: SettingKind;
    default: SettingValue;
    /** `server`: sent to gemma-lsp; `client`: read by the extension only. */
    audience: 'server' | 'client';
    description: string;
}

/** Reads one setting; `vscode.WorkspaceConfiguration` for section `gemma` satisfies it. */
export interface ConfigReader {
    get<T>(key: string): T | undefined;
}

/** A value that failed validation; the default was used instead. */
export interface SettingProblem {
    key: string;
    message: string;
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Returns an error message when `value` does not fit `kind`, else undefined. */
export function checkValue(kind: SettingKind, value: unknown): string | undefined {
    switch (kind.type) {
        case 'string':
            if (typeof value !== 'string') return 'expected a string';
            if (kind.enum && !kind.enum.includes(value)) return `expected one of ${kind.enum.join(', ')}`;
            if (kind.pattern && !new RegExp(kind.pattern).test(value)) return `does not match ${kind.pattern}`;
            return undefined;
        case 'nullableString':
            return value === null || typeof value === 'string' ? undefined : 'expected a string or null';
        case 'boolean':
            return typeof value === 'boolean' ? undefined : 'expected true or false';
        case 'integer':
            if (typeof value !== 'number' || !Number.isInteger(value)) return 'expected a whole number';
            if (kind.minimum !== undefined && value < kind.minimum) return `must be at least ${kind.minimum}`;
            if (kind.maximum !== undefined && value > kind.maximum) return `must be at most ${kind.maximum}`;
            return undefined;
        case 'number':
            if (typeof value !== 'number' || !Number.isFinite(value)) return 'expected a number';
            if (kind.exclusiveMinimum !== undefined && value <= kind.exclusiveMinimum) return `must be more than ${kind.exclusiveMinimum}`;
            return undefined;
        case 'stringArray':
            return isStringArray(value) ? undefined : 'expected a list of strings';
        case 'nullableStringArray':
            return value === null || isStringArray(value) ? undefined : 'expected a list of strings or null';
        case 'stringMap':
            return typeof value === 'object' && value !== null && !Array.isArray(value) &&
                Object.values(value).every((x) => typeof x === 'string')
                ? undefined
                : 'expected an object of string values';
    }
}

/** Reads every setting of `audience`, replacing invalid values by their defaults. */
export function readSettings(
    config: ConfigReader,
    audience: 'server' | 'client',
): { values: Map<string, SettingValue>; problems: SettingProblem[] } {
    const values = new Map<string, SettingValue>();
    const problems: SettingProblem[] = [];
    for (const spec of SETTINGS) {
        if (spec.audience !== audience) continue;
        const raw = config.get<unknown>(spec.key);
        const problem = raw === undefined ? undefined : checkValue(spec.kind, raw);
        if (problem !== undefined) {
            problems.push({ key: `gemma.${spec.key}`, message: `${problem}; using ${JSON.stringify(spec.default)}` });
        }
        values.set(spec.key, raw === undefined || problem !== undefined ? spec.default : (raw as SettingValue));
    }
    return { values, problems };
}

/** Turns dotted keys into nested objects: `{"remote.url": u}` → `{remote: {url: u}}` (VS Code's own shape). */
export function nest(values: Map<string, SettingValue>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, value] of values) {
        const parts = key.split('.');
        let node = out;
        for (const part of parts.slice(0, -1)) {
            node = (node[part] ??= {}) as Record<string, unknown>;
        }
        node[parts[parts.length - 1]] = value;
    }
    return out;
}

/** What the extension itself reads from `gemma.*`. */
export interface ClientSettings {
    serverCommand: string[];
    serverInterpreter: string;
    serverEnv: Record<string, string>;
    installSpec: string;
    inlineDebounceMs: number;
}

/** The extension's own settings, validated. */
export function clientSettings(config: ConfigReader): { settings: ClientSettings; problems: SettingProblem[] } {
    const { values, problems } = readSettings(config, 'client');
    return {
        settings: {
            serverCommand: values.get('server.command') as string[],
            serverInterpreter: values.get('server.interpreter') as string,
            serverEnv: values.get('server.env') as Record<string, string>,
            installSpec: values.get('server.installSpec') as string,
            inlineDebounceMs: values.get('inline.debounceMs') as number,
        },
        problems,
    };
}

/**
 * The `gemma` object the server receives (initializationOptions and didChangeConfiguration): only the
 * keys docs/protocol.md defines, nested, invalid ones replaced by their defaults.
 */
export function serverSettings(config: ConfigReader): { settings: Record<string, unknown>; problems: SettingProblem[] } {
    const { values, problems } = readSettings(config, 'server');
    return { settings: nest(values), problems };
}

/**
 * initializationOptions for gemma-lsp: the server settings, what this client can do itself, and who it
 * is (`client`: the server names settings in messages as this client spells them, e.g. `gemma.model`).
 */
export function initializationOptions(config: ConfigReader): Record<string, unknown> {
    return { gemma: { ...serverSettings(config).settings, clientRendersExplanations: true, client: 'vscode' } };
}

/** Whether inline completions are on for a language (`gemma.inline.enabled`, language-overridable). */
export function inlineEnabled(config: ConfigReader): boolean {
    return config.get<unknown>('inline.enabled') !== false;
}
