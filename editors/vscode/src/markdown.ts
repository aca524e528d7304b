/**
 * Renders the model's markdown answers (explanations, debug answers) to HTML for a webview.
 * Model output is untrusted: every piece of text is HTML-escaped and only a small, fixed set of tags is
 * produced (headings, paragraphs, lists, code blocks, inline code, bold, italic, links to http(s)).
 * The page carries a Content-Security-Policy that allows no scripts at all.
 */

/** Escapes the five HTML-significant characters. */
export function escapeHtml(text: string): string {
    return text
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&#39;');
}

/** Inline markup of one already-split line: `code`, **bold**, *italic*, [text](http...). */
export function renderInline(text: string): string {
    // Split out code spans first so their content is never treated as markup.
    const parts = text.split(/(`[^`]+`)/);
    return parts
        .map((part) => {
            if (part.length > 1 && part.startsWith('`') && part.endsWith('`')) {
                return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
            }
            let html = escapeHtml(part);
            html = html.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
            html = html.replace(/(^|[^*])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>');
            // _emphasis_ only at word edges, so snake_case names stay as they are.
            html = html.replace(/(^|[^\w])_([^_\s][^_]*?)_(?=$|[^\w])/g, '$1<em>$2</em>');
            html = html.replace(/\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2">$1</a>');
            return html;
        })
        .join('');
}

/** Markdown → HTML body (no surrounding page). */
export function renderMarkdown(markdown: string): string {
    const out: string[] = [];
    const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
    let paragraph: string[] = [];
    let list: { tag: 'ul' | 'ol'; items: string[] } | undefined;

    const flushParagraph = (): void => {
        if (paragraph.length) out.push(`<p>${paragraph.map(renderInline).join('<br>\n')}</p>`);
        paragraph = [];
    };
    const flushList = (): void => {
        if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${renderInline(i)}</li>`).join('')}</${list.tag}>`);
        list = undefined;
    };

    for (let i = 0; i < lines.length; i++) {
        const line = lines[i];
        const fence = /^\s*(```|~~~)\s*([\w+.-]*)\s*$/.exec(line);
        if (fence) {
            flushParagraph();
            flushList();
            const body: string[] = [];
            i++;
            while (i < lines.length && !lines[i].trimStart().startsWith(fence[1])) body.push(lines[i++]);
            const lang = fence[2] ? ` class="language-${escapeHtml(fence[2])}"` : '';
            out.push(`<pre><code${lang}>${escapeHtml(body.join('\n'))}</code></pre>`);
            continue;
        }
        const heading = /^(#{1,6})\s+(.*)$/.exec(line);
        const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
        const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
        if (heading) {
            flushParagraph();
            flushList();
            const level = heading[1].length;
            out.push(`<h${level}>${renderInline(heading[2])}</h${level}>`);
        } else if (bullet || numbered) {
            flushParagraph();
            const tag = bullet ? 'ul' : 'ol';
            if (list && list.tag !== tag) flushList();
            list ??= { tag, items: [] };
            list.items.push((bullet ?? numbered)![1]);
        } else if (line.trim() === '') {
            flushParagraph();
            flushList();
        } else {
            flushList();
            paragraph.push(line);
        }
    }
    flushParagraph();
    flushList();
    return out.join('\n');
}

/** A complete webview page for `markdown`, scripts forbidden by CSP. */
export function renderPage(title: string, markdown: string, cspSource: string): string {
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline' ${cspSource}; img-src ${cspSource} https:;">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); padding: 0 1em; line-height: 1.5; }
pre { background: var(--vscode-textCodeBlock-background); padding: 0.6em; overflow-x: auto; }
code { font-family: var(--vscode-editor-font-family); }
h1 { font-size: 1.3em; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${renderMarkdown(markdown)}
</body>
</html>`;
}
