import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { escapeHtml, renderInline, renderMarkdown, renderPage } from '../src/markdown';

describe('markdown rendering of explanations', () => {
    it('escapes HTML in model output, including inside markup', () => {
        const html = renderMarkdown('Use <script>alert(1)</script> **<b>bold</b>**');
        assert.ok(!html.includes('<script>'));
        assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
        assert.ok(html.includes('<strong>&lt;b&gt;bold&lt;/b&gt;</strong>'));
    });

    it('renders fenced code without interpreting its content', () => {
        const html = renderMarkdown('Fix:\n```python\nif a < b and **kw:\n    return `x`\n```\nDone.');
        assert.ok(html.includes('<pre><code class="language-python">if a &lt; b and **kw:\n    return `x`</code></pre>'));
        assert.ok(html.startsWith('<p>Fix:</p>'));
        assert.ok(html.endsWith('<p>Done.</p>'));
    });

    it('renders headings, lists, inline code, emphasis and http links', () => {
        const html = renderMarkdown('## Why\n- `x` is *unset*\n- see [docs](https://docs.python.org)\n\n1. one\n2. two');
        assert.ok(html.includes('<h2>Why</h2>'));
        assert.ok(html.includes('<ul><li><code>x</code> is <em>unset</em></li><li>see <a href="https://docs.python.org">docs</a></li></ul>'));
        assert.ok(html.includes('<ol><li>one</li><li>two</li></ol>'));
    });

    it('reads _underscores_ as emphasis but leaves snake_case alone', () => {
        assert.equal(renderInline('_Session stopped._ and my_var_name'), '<em>Session stopped.</em> and my_var_name');
    });

    it('never links other schemes', () => {
        assert.equal(renderInline('[x](javascript:alert(1))'), '[x](javascript:alert(1))');
    });

    it('keeps an unterminated fence as code to the end', () => {
        assert.equal(renderMarkdown('```\na <b>'), '<pre><code>a &lt;b&gt;</code></pre>');
    });

    it('builds a page that forbids scripts', () => {
        const page = renderPage('Explain: <NameError>', 'text', 'vscode-resource:');
        assert.match(page, /default-src 'none'/);
        assert.ok(!/script-src/.test(page));
        assert.ok(page.includes('<h1>Explain: &lt;NameError&gt;</h1>'));
        assert.equal(escapeHtml(`"'&`), '&quot;&#39;&amp;');
    });
});
