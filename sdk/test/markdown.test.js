import assert from "node:assert/strict";
import { test } from "node:test";

import { escapeHtml, renderMarkdown } from "../src/markdown.js";

test("the marks scripts use", () => {
  assert.equal(renderMarkdown("Hello, **this** is *the* campaign."),
    "<p>Hello, <strong>this</strong> is <em>the</em> campaign.</p>");
  assert.equal(renderMarkdown("# Opening\nline one\nline two\n\n- yes\n- no\n\n1. first\n2. second"),
    "<h3>Opening</h3>\n<p>line one<br>line two</p>\n<ul><li>yes</li><li>no</li></ul>\n<ol><li>first</li><li>second</li></ol>");
  assert.equal(renderMarkdown("> quoted"), "<blockquote><p>quoted</p></blockquote>");
  assert.equal(renderMarkdown("Call `555` [site](https://example.org/a?b=1&c=2)"),
    '<p>Call <code>555</code> <a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer" target="_blank">site</a></p>');
});

test("no markup gets through from a script or a lead field", () => {
  const attacks = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '**<b onmouseover="x">**',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](data:text/html,<script>alert(1)</script>)",
    '[x](https://a.example/"onmouseover="alert(1))',
    "`<script>`",
    "\u00000\u0000<i>",
  ];
  for (const attack of attacks) {
    const html = renderMarkdown(attack);
    assert.doesNotMatch(html, /<(?!\/?(p|br|h[3-6]|ul|ol|li|blockquote|strong|em|code|a)\b)/, `${attack} -> ${html}`);
    assert.doesNotMatch(html, /href="(?!https?:)/i, `${attack} -> ${html}`);
    // Inside a tag, nothing but this renderer's own attributes, whose values hold no quote.
    const tags = html.match(/<[^>]*>/g) ?? [];
    for (const tag of tags) {
      assert.match(tag, /^<\/?\w+( href="[^"]*" rel="noopener noreferrer" target="_blank")?>$/, `${attack} -> ${html}`);
    }
  }
  assert.equal(renderMarkdown("[click](javascript:void)"), "<p>click</p>");
  assert.equal(renderMarkdown("<b>hi</b>"), "<p>&lt;b&gt;hi&lt;/b&gt;</p>");
});

test("escapeHtml escapes what HTML reads", () => {
  assert.equal(escapeHtml(`<a href='x'>"&"</a>`), "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;");
  assert.equal(escapeHtml(null), "");
});
