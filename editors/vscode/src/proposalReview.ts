/**
 * Review of a proposed edit before anything is applied: VS Code's diff editor with the file as it is
 * on the left and the proposed text on the right, a read-only virtual document (`gemma-proposal:`)
 * this class serves, plus Apply / Discard as editor title actions and in a notification. Apply
 * applies the edit only when every file is still at the version (and text) the proposal was made
 * for; otherwise it says so and changes nothing.
 */
import * as vscode from 'vscode';
import { FileEdits, LspTextEdit, Proposal, applyTextEdits, fileEditsOf, fileName, summarize } from './proposal';

export const PROPOSAL_SCHEME = 'gemma-proposal';
export const APPLY_PROPOSAL = 'gemma.applyProposal';
export const DISCARD_PROPOSAL = 'gemma.discardProposal';
/** Context key, true while a proposal waits for Apply or Discard (package.json `when` clauses). */
const PENDING_KEY = 'gemma.proposalPending';

interface ReviewedFile {
    target: vscode.Uri;
    /** The version the server computed the edit on (null: the file was not open there). */
    version: number | null;
    /** The text the proposed side was computed from. */
    originalText: string;
    proposedUri: vscode.Uri;
    edits: LspTextEdit[];
}

interface Pending {
    id: number;
    summary: string;
    files: ReviewedFile[];
}

export class ProposalReview implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly contents = new Map<string, string>();
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange = this.changed.event;
    private pending: Pending | undefined;
    private nextId = 1;

    constructor(private readonly log: Pick<vscode.LogOutputChannel, 'info' | 'warn'>) {}

    /** The content provider and the Apply / Discard commands. */
    register(): vscode.Disposable[] {
        return [
            vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, this),
            vscode.commands.registerCommand(APPLY_PROPOSAL, (uri?: vscode.Uri) => this.apply(uri)),
            vscode.commands.registerCommand(DISCARD_PROPOSAL, (uri?: vscode.Uri) => this.discard(uri)),
        ];
    }

    provideTextDocumentContent(uri: vscode.Uri): string {
        return this.contents.get(uri.toString()) ?? '(This proposal was applied or discarded.)';
    }

    /** The proposal waiting for a decision, if any (for tests and the status). */
    get pendingSummary(): string | undefined {
        return this.pending?.summary;
    }

    /**
     * Opens the diff of each file the proposal changes and offers Apply / Discard. Returns once the
     * diffs are open (the decision comes later); false when there was nothing it could show.
     * A new proposal replaces one still waiting.
     */
    async show(proposal: Proposal): Promise<boolean> {
        let files: FileEdits[];
        try {
            files = fileEditsOf(proposal.edit);
        } catch (error) {
            void vscode.window.showWarningMessage(`Gemma: the proposed change cannot be shown: ${(error as Error).message}. Nothing was changed.`);
            return false;
        }
        files = files.filter((f) => f.edits.length > 0);
        if (files.length === 0) {
            void vscode.window.showInformationMessage('Gemma: the proposal changes nothing.');
            return false;
        }
        await this.forget();
        const id = this.nextId++;
        const reviewed: ReviewedFile[] = [];
        for (const [index, file] of files.entries()) {
            const target = vscode.Uri.parse(file.uri);
            const name = fileName(file.uri);
            let document: vscode.TextDocument;
            try {
                document = await vscode.workspace.openTextDocument(target);
            } catch (error) {
                void vscode.window.showWarningMessage(`Gemma: cannot open ${name} to show the proposed change: ${(error as Error).message}`);
                return false;
            }
            if (file.version !== null && document.version !== file.version) {
                void vscode.window.showWarningMessage(`Gemma: ${name} changed while the change was being proposed; nothing to review. Ask Gemma again.`);
                return false;
            }
            const originalText = document.getText();
            let proposed: string;
            try {
                proposed = applyTextEdits(originalText, file.edits);
            } catch (error) {
                void vscode.window.showWarningMessage(`Gemma: the proposed change to ${name} is not valid: ${(error as Error).message}. Nothing was changed.`);
                return false;
            }
            // The file name last, so the proposed side gets the file's language (highlighting).
            const proposedUri = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: `/${id}/${index}/${name}` });
            this.contents.set(proposedUri.toString(), proposed);
            reviewed.push({ target, version: file.version, originalText, proposedUri, edits: file.edits });
        }
        const summary = proposal.summary.trim().replace(/\.$/, '') || summarize(files);
        this.pending = { id, summary, files: reviewed };
        await vscode.commands.executeCommand('setContext', PENDING_KEY, true);
        for (const file of reviewed) {
            this.changed.fire(file.proposedUri);
            const name = fileName(file.target.toString());
            await vscode.commands.executeCommand('vscode.diff', file.target, file.proposedUri, `${name} ↔ Gemma's proposal`, { preview: false });
        }
        this.log.info(`Showing a proposed change for review: ${summary}.`);
        void vscode.window.showInformationMessage(`Gemma proposes ${summary}. Review the diff, then apply or discard it.`, 'Apply', 'Discard')
            .then((choice) => {
                if (this.pending?.id !== id) return; // already decided in the editor (or replaced)
                if (choice === 'Apply') void this.apply();
                else if (choice === 'Discard') void this.discard();
            });
        return true;
    }

    /**
     * Applies the waiting proposal if every file is still as it was reviewed; `uri` (from an editor
     * title action) names which proposal the user looked at. Returns whether it was applied.
     */
    async apply(uri?: vscode.Uri): Promise<boolean> {
        const pending = this.decidable(uri);
        if (!pending) return false;
        const documents: vscode.TextDocument[] = [];
        for (const file of pending.files) documents.push(await vscode.workspace.openTextDocument(file.target));
        // Checked and applied without an await in between: nothing can change the documents meanwhile.
        for (const [i, file] of pending.files.entries()) {
            const document = documents[i];
            if ((file.version !== null && document.version !== file.version) || document.getText() !== file.originalText) {
                const name = fileName(file.target.toString());
                void vscode.window.showWarningMessage(`Gemma: ${name} changed since the change was proposed, so nothing was applied. Ask Gemma again for a fresh proposal.`);
                this.log.warn(`Refused to apply "${pending.summary}": ${name} is at version ${document.version}, the proposal was for ${file.version ?? 'its text on disk'}.`);
                return false;
            }
        }
        const edit = new vscode.WorkspaceEdit();
        for (const file of pending.files) {
            for (const e of file.edits) {
                const { start, end } = e.range;
                edit.replace(file.target, new vscode.Range(start.line, start.character, end.line, end.character), e.newText);
            }
        }
        if (!(await vscode.workspace.applyEdit(edit))) {
            void vscode.window.showWarningMessage('Gemma: VS Code refused the proposed change; nothing was applied.');
            return false;
        }
        await this.forget();
        this.log.info(`Applied ${pending.summary}.`);
        void vscode.window.showInformationMessage(`Gemma: applied ${pending.summary}.`);
        return true;
    }

    /** Drops the waiting proposal and closes its diff editors; nothing is applied. */
    async discard(uri?: vscode.Uri): Promise<boolean> {
        const pending = this.decidable(uri);
        if (!pending) return false;
        await this.forget();
        this.log.info(`Discarded ${pending.summary}.`);
        void vscode.window.showInformationMessage('Gemma: the proposed change was discarded.');
        return true;
    }

    dispose(): void {
        void this.forget();
        this.changed.dispose();
    }

    /** The waiting proposal, if `uri` (when given) belongs to it; otherwise says why not. */
    private decidable(uri?: vscode.Uri): Pending | undefined {
        const pending = this.pending;
        const stale = uri?.scheme === PROPOSAL_SCHEME && !pending?.files.some((f) => f.proposedUri.toString() === uri.toString());
        if (!pending || stale) {
            void vscode.window.showInformationMessage('Gemma: that proposal was already applied or discarded.');
            return undefined;
        }
        return pending;
    }

    /** Forgets the waiting proposal (if any): its virtual documents' text and its diff tabs. */
    private async forget(): Promise<void> {
        const pending = this.pending;
        if (!pending) return;
        this.pending = undefined;
        const uris = new Set(pending.files.map((f) => f.proposedUri.toString()));
        for (const uri of uris) this.contents.delete(uri);
        await vscode.commands.executeCommand('setContext', PENDING_KEY, false);
        const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) => {
            const input = tab.input;
            if (input instanceof vscode.TabInputTextDiff) return uris.has(input.modified.toString());
            if (input instanceof vscode.TabInputText) return uris.has(input.uri.toString());
            return false;
        });
        if (tabs.length) await vscode.window.tabGroups.close(tabs, true);
        for (const file of pending.files) this.changed.fire(file.proposedUri);
    }
}
