// The document shown in the message's sandboxed iframe: the server's sanitised HTML (or the
// plain text, escaped) under its own Content-Security-Policy, which lets remote images through
// only when the person asked for them for this message.

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

export function frameCsp(remote: boolean): string {
  const img = remote ? "img-src data: http: https:" : 'img-src data:'
  return `default-src 'none'; ${img}; style-src 'unsafe-inline'; font-src data:; form-action 'none'; base-uri 'none'`
}

export function frameDocument(body: { html?: string | null; text?: string | null }, remote: boolean, dark: boolean): string {
  const csp = escapeHtml(frameCsp(remote))
  const scheme = dark ? 'dark' : 'light'
  const head =
    `<!doctype html><html><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${csp}">` +
    `<meta name="referrer" content="no-referrer">` +
    `<base target="_blank">` +
    `<style>html{color-scheme:${scheme}}body{margin:12px;font:14px/1.5 system-ui,sans-serif;word-wrap:break-word}` +
    `pre{white-space:pre-wrap;font:13px/1.5 ui-monospace,monospace;margin:0}img{max-width:100%;height:auto}</style></head><body>`
  if (body.html) return `${head}${body.html}</body></html>`
  return `${head}<pre>${escapeHtml(body.text ?? '')}</pre></body></html>`
}
