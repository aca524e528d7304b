/**
 * Next-edit suggestions in VS Code: after an edit, the edit the user will likely make next near the
 * cursor (`gemma/nextEdit`), shown where it applies as a diff-style decoration: the text it replaces
 * struck through on a removed-text background, the new text after it on an inserted-text background,
 * and its label at the end of the line. `gemma.nextEdit.jump` (Alt+N) moves the cursor there,
 * `gemma.nextEdit.accept` (Alt+Y) applies it; the next change to the document clears it. The setting
 * `gemma.nextEdit.enabled` (the server's own) turns it off. The logic lives in nextEditController.ts.
 */
import * as vscode from 'vscode';
import { NextEdit, NextEditController, previewText } from './nextEditController';
import { ServerManager } from './server';

const METHOD = 'gemma/nextEdit';
const DEBOUNCE_MS = 300;
/** Context key for the keybindings: a suggestion is shown in the active editor. */
const VISIBLE = 'gemma.nextEditVisible';

export class NextEditFeature implements vscode.Disposable {
    readonly controller: NextEditController<vscode.TextDocument>;
    private readonly removed = vscode.window.createTextEditorDecorationType({
        textDecoration: 'line-through',
        backgroundColor: new vscode.ThemeColor('diffEditor.removedTextBackground'),
    });
    private readonly inserted = vscode.window.createTextEditorDecorationType({});
    private readonly hint = vscode.window.createTextEditorDecorationType({});
    private readonly disposables: vscode.Disposable[] = [];

    constructor(private readonly server: ServerManager, log: vscode.LogOutputChannel) {
        this.controller = new NextEditController<vscode.TextDocument>({
            key: (doc) => doc.uri.toString(),
            version: (doc) => doc.version,
            enabled: (doc) => vscode.workspace.getConfiguration('gemma', doc).get<boolean>('nextEdit.enabled') !== false,
            cursor: (doc) => {
                const editor = vscode.window.activeTextEditor;
                if (!editor || editor.document !== doc) return undefined;
                const at = editor.selection.active;
                return { line: at.line, character: at.character };
            },
            request: async (params, token) => {
                const client = this.server.languageClient;
                if (!client) return null;
                return client.sendRequest(METHOD, params, token as unknown as vscode.CancellationToken);
            },
            show: (doc, edit) => this.show(doc, edit),
            clear: (doc) => this.hide(doc),
            debounceMs: () => DEBOUNCE_MS,
            log: (message) => log.debug(message),
        });
        this.disposables.push(
            this.removed, this.inserted, this.hint,
            vscode.workspace.onDidChangeTextDocument((e) => {
                if (e.contentChanges.length && e.document === vscode.window.activeTextEditor?.document) {
                    void this.controller.onDidChange(e.document);
                }
            }),
            vscode.window.onDidChangeActiveTextEditor((editor) => {
                if (editor) this.controller.clear(editor.document);
                void vscode.commands.executeCommand('setContext', VISIBLE, false);
            }),
            vscode.commands.registerCommand('gemma.nextEdit.jump', () => this.jump()),
            vscode.commands.registerCommand('gemma.nextEdit.accept', () => this.accept()),
        );
    }

    /** Moves the cursor to where the shown edit starts; false when none is shown. */
    jump(): boolean {
        const editor = vscode.window.activeTextEditor;
        const edit = editor && this.controller.current(editor.document);
        if (!editor || !edit) return false;
        const start = new vscode.Position(edit.range.start.line, edit.range.start.character);
        editor.selection = new vscode.Selection(start, start);
        editor.revealRange(new vscode.Range(start, start), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
        return true;
    }

    /** Applies the shown edit (only to the version it was made for); false when none is shown. */
    async accept(): Promise<boolean> {
        const editor = vscode.window.activeTextEditor;
        const edit = editor && this.controller.take(editor.document);
        if (!editor || !edit) return false;
        const range = toRange(edit);
        const applied = await editor.edit((builder) => builder.replace(range, edit.newText));
        if (applied) {
            const end = editor.document.positionAt(editor.document.offsetAt(range.start) + edit.newText.length);
            editor.selection = new vscode.Selection(end, end);
        }
        return applied;
    }

    private show(doc: vscode.TextDocument, edit: NextEdit): void {
        const editor = vscode.window.visibleTextEditors.find((e) => e.document === doc);
        if (!editor) return;
        const range = toRange(edit);
        editor.setDecorations(this.removed, range.isEmpty ? [] : [range]);
        const inserted = previewText(edit.newText);
        editor.setDecorations(this.inserted, inserted ? [{
            range: new vscode.Range(range.end, range.end),
            hoverMessage: new vscode.MarkdownString().appendCodeblock(edit.newText),
            renderOptions: { after: {
                contentText: inserted,
                backgroundColor: new vscode.ThemeColor('diffEditor.insertedTextBackground'),
            } },
        }] : []);
        const lineEnd = doc.lineAt(range.start.line).range.end;
        editor.setDecorations(this.hint, [{
            range: new vscode.Range(lineEnd, lineEnd),
            renderOptions: { after: {
                contentText: `  ${edit.label}  (Alt+N jump, Alt+Y accept)`,
                color: new vscode.ThemeColor('editorCodeLens.foreground'),
                fontStyle: 'italic',
            } },
        }]);
        void vscode.commands.executeCommand('setContext', VISIBLE, true);
    }

    private hide(doc: vscode.TextDocument): void {
        for (const editor of vscode.window.visibleTextEditors.filter((e) => e.document === doc)) {
            editor.setDecorations(this.removed, []);
            editor.setDecorations(this.inserted, []);
            editor.setDecorations(this.hint, []);
        }
        void vscode.commands.executeCommand('setContext', VISIBLE, false);
    }

    dispose(): void {
        for (const d of this.disposables) d.dispose();
    }
}

function toRange(edit: NextEdit): vscode.Range {
    return new vscode.Range(edit.range.start.line, edit.range.start.character, edit.range.end.line, edit.range.end.character);
}
