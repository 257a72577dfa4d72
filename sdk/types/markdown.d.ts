/** Markdown (a small subset) as HTML made only of the renderer's own tags: every character of
 * the input is escaped first, links go only to http(s), mailto and tel addresses. */
export function renderMarkdown(source: string | null | undefined): string;
/** Text as HTML text. */
export function escapeHtml(text: unknown): string;
