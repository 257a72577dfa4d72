/**
 * Script texts (and anything else people type) as HTML, safely: every character of the input
 * is escaped first, and only this renderer's own tags are added, so no script, lead field or
 * custom field can inject markup. A small subset of Markdown, what scripts use: paragraphs
 * and line breaks, `#` headings, `-`/`*` and `1.` lists, `>` quotes, `**bold**`, `*italic*`,
 * `` `code` ``, and `[links](https://...)` to http(s), mailto and tel addresses only.
 */

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text as HTML text: `<`, `>`, `&` and quotes escaped. */
export function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** @param {string} source Markdown @returns {string} HTML made only of this renderer's tags */
export function renderMarkdown(source) {
  // NUL marks this renderer's code spans below: none may come from the text.
  const lines = String(source ?? "").replace(/\u0000/g, "\uFFFD").replace(/\r\n?/g, "\n").split("\n");
  const html = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const level = Math.min(heading[1].length + 2, 6); // a script's "#" sits under the page's own headings
      html.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      i += 1;
      continue;
    }
    const list = listKind(line);
    if (list) {
      const items = [];
      while (i < lines.length && listKind(lines[i]) === list) {
        items.push(`<li>${inline(lines[i].replace(LIST_MARKERS[list], ""))}</li>`);
        i += 1;
      }
      html.push(`<${list}>${items.join("")}</${list}>`);
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      html.push(`<blockquote>${renderMarkdown(quoted.join("\n"))}</blockquote>`);
      continue;
    }
    const paragraph = [];
    while (i < lines.length && lines[i].trim() && !/^#{1,6}\s/.test(lines[i]) && !listKind(lines[i])
      && !/^\s*>/.test(lines[i])) {
      paragraph.push(inline(lines[i].trim()));
      i += 1;
    }
    html.push(`<p>${paragraph.join("<br>")}</p>`);
  }
  return html.join("\n");
}

const LIST_MARKERS = { ul: /^\s*[-*+]\s+/, ol: /^\s*\d{1,9}[.)]\s+/ };

function listKind(line) {
  if (LIST_MARKERS.ul.test(line)) return "ul";
  if (LIST_MARKERS.ol.test(line)) return "ol";
  return null;
}

const UNESCAPES = Object.fromEntries(Object.entries(ESCAPES).map(([c, e]) => [e, c]));

function unescapeHtml(html) {
  return html.replace(/&(amp|lt|gt|quot|#39);/g, (e) => UNESCAPES[e]);
}

const SAFE_LINK = /^(https?:|mailto:|tel:)/i;

/** One line's inline marks, on text escaped before anything else happens to it. */
function inline(text) {
  const codes = [];
  // Code spans first, kept aside so that nothing inside them is read as a mark.
  let out = escapeHtml(text).replace(/`([^`]+)`/g, (_, code) => {
    codes.push(`<code>${code}</code>`);
    return `\u0000${codes.length - 1}\u0000`;
  });
  out = out.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label, href) => {
    const url = unescapeHtml(href);
    if (!SAFE_LINK.test(url)) return label;
    return `<a href="${escapeHtml(url)}" rel="noopener noreferrer" target="_blank">${label}</a>`;
  });
  out = out
    .replace(/\*\*(?=\S)(.+?)(?<=\S)\*\*/g, "<strong>$1</strong>")
    .replace(/__(?=\S)(.+?)(?<=\S)__/g, "<strong>$1</strong>")
    .replace(/(^|[^*\w])\*(?=\S)(.+?)(?<=\S)\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^_\w])_(?=\S)(.+?)(?<=\S)_(?![_\w])/g, "$1<em>$2</em>");
  return out.replace(/\u0000(\d+)\u0000/g, (_, n) => codes[Number(n)]);
}
