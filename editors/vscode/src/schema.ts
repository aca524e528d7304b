/**
 * package.json's `contributes.configuration` properties, derived from the settings table so the two
 * cannot drift (`node scripts/settings-schema.mjs --write` updates package.json; a unit test checks).
 */
import { SETTINGS, SettingSpec } from './settings';

type JsonSchema = Record<string, unknown>;

function typeSchema(spec: SettingSpec): JsonSchema {
    const k = spec.kind;
    switch (k.type) {
        case 'string':
            return { type: 'string', ...(k.enum ? { enum: [...k.enum] } : {}), ...(k.pattern ? { pattern: k.pattern } : {}) };
        case 'nullableString':
            return { type: ['string', 'null'] };
        case 'boolean':
            return { type: 'boolean' };
        case 'integer':
            return { type: 'integer', ...(k.minimum !== undefined ? { minimum: k.minimum } : {}), ...(k.maximum !== undefined ? { maximum: k.maximum } : {}) };
        case 'number':
            return { type: 'number', ...(k.exclusiveMinimum !== undefined ? { exclusiveMinimum: k.exclusiveMinimum } : {}) };
        case 'stringArray':
            return { type: 'array', items: { type: 'string' } };
        case 'nullableStringArray':
            return { type: ['array', 'null'], items: { type: 'string' } };
        case 'stringMap':
            return { type: 'object', additionalProperties: { type: 'string' } };
    }
}

/** The JSON-schema properties VS Code's settings editor uses, keyed `gemma.<key>`. */
const MACHINE_SCOPED = (key: string): boolean =>
    key.startsWith('server.') || key === 'engine' || key.startsWith('remote.');

export function configurationProperties(): Record<string, JsonSchema> {
    const props: Record<string, JsonSchema> = {};
    SETTINGS.forEach((spec, order) => {
        props[`gemma.${spec.key}`] = {
            ...typeSchema(spec),
            default: spec.default,
            markdownDescription: spec.description,
            order,
            // Machine-specific paths and commands must not come from a workspace someone else wrote.
            // Machine scope: what runs, and where code is sent, is never up to a workspace's settings.
            scope: MACHINE_SCOPED(spec.key) ? 'machine' : spec.key === 'inline.enabled' ? 'language-overridable' : 'window',
        };
    });
    props['gemma.trace.server'] = {
        type: 'string',
        enum: ['off', 'messages', 'verbose'],
        default: 'off',
        markdownDescription: 'Log the LSP messages between VS Code and gemma-lsp in the Gemma output channel.',
        order: SETTINGS.length,
        scope: 'window',
    };
    return props;
}
