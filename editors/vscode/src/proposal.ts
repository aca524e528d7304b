/**
 * Proposed edits (docs/protocol.md "Proposed edits"): the server's `Proposal = {edit, diff, summary}`
 * read from a command result, split into per-file text edits, and the proposed text of each file
 * computed from its current text. No `vscode` import: the review UI (proposalReview.ts) shows what
 * this module computes, and the unit tests run it directly.
 */
import type { LspPosition, LspRange } from './commandArgs';

/** An LSP TextEdit. */
export interface LspTextEdit {
    range: LspRange;
    newText: string;
}

/** The text edits of one file of a WorkspaceEdit; `version` is the document version they were computed on. */
export interface FileEdits {
    uri: string;
    version: number | null;
    edits: LspTextEdit[];
}

/** What the client reviews: the server's Proposal, or one built from an old server's bare `edit`. */
export interface Proposal {
    /** The LSP WorkspaceEdit (JSON), pinned to document versions. */
    edit: unknown;
    /** Unified diff of all files (empty when an old server sent only the edit). */
    diff: string;
    /** e.g. "1 change in calc.py". */
    summary: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Narrows a `Proposal` from JSON, or undefined when it is not one. */
export function asProposal(value: unknown): Proposal | undefined {
    if (!isRecord(value) || !isRecord(value.edit)) return undefined;
    return {
        edit: value.edit,
        diff: typeof value.diff === 'string' ? value.diff : '',
        summary: typeof value.summary === 'string' ? value.summary : '',
    };
}

/**
 * The proposal of a `gemma.debug` or `gemma.fix` result: its `proposal` (current servers), else its
 * bare `edit` (servers from before proposals; their `editMessage` is a sentence, not a summary, so
 * the summary is left for the client to compute), else undefined.
 */
export function proposalOf(result: unknown): Proposal | undefined {
    if (!isRecord(result)) return undefined;
    const proposal = asProposal(result.proposal);
    if (proposal) return proposal;
    if (!isRecord(result.edit)) return undefined;
    return { edit: result.edit, diff: '', summary: '' };
}

function isPosition(v: unknown): v is LspPosition {
    return isRecord(v) && Number.isInteger(v.line) && Number.isInteger(v.character) && (v.line as number) >= 0 && (v.character as number) >= 0;
}

function asTextEdit(v: unknown): LspTextEdit {
    if (!isRecord(v) || !isRecord(v.range) || !isPosition(v.range.start) || !isPosition(v.range.end) || typeof v.newText !== 'string') {
        throw new Error(`not a text edit: ${JSON.stringify(v)}`);
    }
    return { range: { start: v.range.start, end: v.range.end }, newText: v.newText };
}

/**
 * The text edits of a WorkspaceEdit, per file, in the order they appear (`documentChanges` when
 * present, else `changes`, as LSP says). Throws for what the review cannot show: file creations,
 * renames and deletions, or malformed edits.
 */
export function fileEditsOf(edit: unknown): FileEdits[] {
    if (!isRecord(edit)) throw new Error('the proposed edit is not a WorkspaceEdit');
    const files: FileEdits[] = [];
    if (Array.isArray(edit.documentChanges)) {
        for (const change of edit.documentChanges) {
            if (!isRecord(change) || !isRecord(change.textDocument) || !Array.isArray(change.edits)) {
                const kind = isRecord(change) && typeof change.kind === 'string' ? change.kind : 'unknown';
                throw new Error(`the proposed edit has a "${kind}" file operation, which cannot be reviewed here`);
            }
            const { uri, version } = change.textDocument;
            if (typeof uri !== 'string') throw new Error('a proposed document change has no URI');
            files.push({ uri, version: typeof version === 'number' ? version : null, edits: change.edits.map(asTextEdit) });
        }
    } else if (isRecord(edit.changes)) {
        for (const [uri, edits] of Object.entries(edit.changes)) {
            if (!Array.isArray(edits)) throw new Error(`the proposed changes to ${uri} are not a list of edits`);
            files.push({ uri, version: null, edits: edits.map(asTextEdit) });
        }
    }
    // One entry per file: LSP allows several TextDocumentEdits for the same document.
    const merged = new Map<string, FileEdits>();
    for (const file of files) {
        const seen = merged.get(file.uri);
        if (seen) seen.edits.push(...file.edits);
        else merged.set(file.uri, { ...file, edits: [...file.edits] });
    }
    return [...merged.values()];
}

/** Offsets where each line starts; LSP ends lines at \n, \r\n or \r. */
function lineStarts(text: string): number[] {
    const starts = [0];
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 13 /* \r */) {
            if (text.charCodeAt(i + 1) === 10) i++;
            starts.push(i + 1);
        } else if (c === 10 /* \n */) {
            starts.push(i + 1);
        }
    }
    return starts;
}

/**
 * The offset of an LSP position (UTF-16 code units, which is what JavaScript strings index). As LSP
 * says, a character past the line's end means the line's end, and a line past the last one the end
 * of the text.
 */
function offsetAt(text: string, starts: number[], p: LspPosition): number {
    if (p.line >= starts.length) return text.length;
    const start = starts[p.line];
    let end = p.line + 1 < starts.length ? starts[p.line + 1] : text.length;
    // The line's content ends before its line break.
    while (end > start && (text.charCodeAt(end - 1) === 10 || text.charCodeAt(end - 1) === 13)) end--;
    return Math.min(start + p.character, end);
}

/** `text` with LSP text edits applied (all positions refer to the original text; overlaps are an error). */
export function applyTextEdits(text: string, edits: LspTextEdit[]): string {
    const starts = lineStarts(text);
    const spans = edits
        .map((e, order) => ({ start: offsetAt(text, starts, e.range.start), end: offsetAt(text, starts, e.range.end), newText: e.newText, order }))
        .sort((a, b) => a.start - b.start || a.end - b.end || a.order - b.order);
    let out = '';
    let at = 0;
    for (const span of spans) {
        if (span.end < span.start) throw new Error('a proposed edit ends before it starts');
        if (span.start < at) throw new Error('two proposed edits overlap');
        out += text.slice(at, span.start) + span.newText;
        at = span.end;
    }
    return out + text.slice(at);
}

/** The last path segment of a URI, decoded ("calc.py"). */
export function fileName(uri: string): string {
    const path = uri.replace(/[?#].*$/, '').replace(/\/+$/, '');
    const name = path.slice(path.lastIndexOf('/') + 1);
    try {
        return decodeURIComponent(name);
    } catch {
        return name;
    }
}

/** "1 change in calc.py", "3 changes in calc.py and test_calc.py" (when the server gave no summary). */
export function summarize(files: FileEdits[]): string {
    const count = files.reduce((n, f) => n + f.edits.length, 0);
    const names = files.map((f) => fileName(f.uri));
    const where = names.length <= 1 ? (names[0] ?? 'no file') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
    return `${count} change${count === 1 ? '' : 's'} in ${where}`;
}
