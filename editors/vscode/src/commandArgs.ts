/**
 * Arguments of the server's `workspace/executeCommand` commands (docs/protocol.md), built from the
 * editor's state in LSP shapes (0-based lines, UTF-16 characters, which is what VS Code positions are).
 */
import { Proposal, proposalOf } from './proposal';

export interface LspPosition {
    line: number;
    character: number;
}
export interface LspRange {
    start: LspPosition;
    end: LspPosition;
}

/** The editor state a command needs (a `vscode.TextEditor` gives all of it). */
export interface EditorState {
    uri: string;
    selection: { start: LspPosition; end: LspPosition; active: LspPosition };
}

const pos = (p: LspPosition): LspPosition => ({ line: p.line, character: p.character });
const isEmpty = (r: { start: LspPosition; end: LspPosition }): boolean =>
    r.start.line === r.end.line && r.start.character === r.end.character;

/** `gemma.debug` `[{uri, position | range, question?}]`: the selection when there is one, else the cursor. */
export function debugArgs(editor: EditorState, question: string | undefined): [Record<string, unknown>] {
    const arg: Record<string, unknown> = { uri: editor.uri };
    if (isEmpty(editor.selection)) arg.position = pos(editor.selection.active);
    else arg.range = { start: pos(editor.selection.start), end: pos(editor.selection.end) };
    const q = question?.trim();
    if (q) arg.question = q;
    return [arg];
}

/**
 * `gemma.explain` `[{uri, range}]` for "Explain Selection"; with no selection, the cursor's whole line.
 * `lineLength` gives the length of a line (for the whole-line fallback).
 */
export function explainSelectionArgs(editor: EditorState, lineLength: (line: number) => number): [{ uri: string; range: LspRange }] {
    let range: LspRange = { start: pos(editor.selection.start), end: pos(editor.selection.end) };
    if (isEmpty(editor.selection)) {
        const line = editor.selection.active.line;
        range = { start: { line, character: 0 }, end: { line, character: lineLength(line) } };
    }
    return [{ uri: editor.uri, range }];
}

/** `gemma.context` `[{uri, position}]`. */
export function contextArgs(editor: EditorState): [{ uri: string; position: LspPosition }] {
    return [{ uri: editor.uri, position: pos(editor.selection.active) }];
}

/** The result of `gemma.explain`. */
export interface ExplainResult {
    title: string;
    markdown: string;
    path?: string;
}

/** The result of `gemma.debug`. */
export interface DebugResult {
    answer: string;
    /** The proposed change (`proposal`, or an old server's bare `edit`), reviewed before it is applied. */
    proposal: Proposal | undefined;
    stopReason?: string;
    transcript?: unknown;
}

/** The result of `gemma.fix` (with `preview: true`, `{applied: false, proposal}`). */
export interface FixResult {
    applied: boolean;
    message?: string;
    proposal: Proposal | undefined;
}

/** Narrows an executeCommand result to an explanation, or undefined when it is not one. */
export function asExplainResult(value: unknown): ExplainResult | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.markdown !== 'string') return undefined;
    return { title: typeof v.title === 'string' ? v.title : 'Explanation', markdown: v.markdown, path: typeof v.path === 'string' ? v.path : undefined };
}

/** Narrows an executeCommand result to a debug answer, or undefined when it is not one. */
export function asDebugResult(value: unknown): DebugResult | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.answer !== 'string') return undefined;
    return { answer: v.answer, proposal: proposalOf(v), stopReason: typeof v.stopReason === 'string' ? v.stopReason : undefined, transcript: v.transcript };
}

/** Narrows an executeCommand result to a fix outcome, or undefined when it is not one. */
export function asFixResult(value: unknown): FixResult | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    if (typeof v.applied !== 'boolean') return undefined;
    return { applied: v.applied, message: typeof v.message === 'string' ? v.message : undefined, proposal: v.applied ? undefined : proposalOf(v) };
}

/** Markdown shown for a debug answer: the answer, why the session stopped, and whether a change is proposed. */
export function debugMarkdown(result: DebugResult): string {
    const parts = [result.answer.trim() || '_The model gave no answer._'];
    if (result.stopReason && !/^answer(ed)?$/.test(result.stopReason)) parts.push(`\n\n_Session stopped: ${result.stopReason}._`);
    if (result.proposal) {
        const what = result.proposal.summary.trim().replace(/\.$/, '');
        parts.push(`\n\n_A change is proposed${what ? ` (${what})` : ''}: review it in the diff editor, then Apply or Discard it. Nothing is changed before you apply it._`);
    }
    return parts.join('');
}

/**
 * Whether a `gemma.fix` call is the "Fix/refactor selection…" action, whose instruction the client asks
 * the user for (no diagnostic and no instruction in its argument).
 */
export function needsInstruction(command: string, args: unknown[]): boolean {
    if (command !== 'gemma.fix') return false;
    const arg = args[0];
    if (typeof arg !== 'object' || arg === null) return false;
    const a = arg as Record<string, unknown>;
    return a.diagnostic == null && (typeof a.instruction !== 'string' || a.instruction.trim() === '');
}

/**
 * `gemma.fix` arguments asking for a preview (`preview: true`): the server proposes the change and
 * applies nothing, so the user reviews the diff first.
 */
export function withPreview(args: unknown[]): unknown[] {
    const first = args[0];
    if (typeof first !== 'object' || first === null || Array.isArray(first)) return args;
    return [{ ...first, preview: true }, ...args.slice(1)];
}

/** Arguments without `preview` (for a server from before proposals, which rejects unknown arguments). */
export function withoutPreview(args: unknown[]): unknown[] {
    const first = args[0];
    if (typeof first !== 'object' || first === null || Array.isArray(first) || !('preview' in first)) return args;
    const rest: Record<string, unknown> = { ...first };
    delete rest.preview;
    return [rest, ...args.slice(1)];
}

/** Whether an error says the server does not know the `preview` argument (a server from before proposals). */
export function rejectsPreview(errorMessage: string): boolean {
    return /unknown argument.*\bpreview\b/i.test(errorMessage);
}

/** Adds `workDoneToken` to the first argument object (where gemma-lsp looks for it); others untouched. */
export function withWorkDoneToken(args: unknown[], token: string): unknown[] {
    const first = args[0];
    if (typeof first !== 'object' || first === null || Array.isArray(first)) return args;
    return [{ ...first, workDoneToken: token }, ...args.slice(1)];
}
