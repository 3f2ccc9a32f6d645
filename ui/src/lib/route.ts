// What the window shows, in the URL's fragment (#settings, #message/42), so a reload — or the
// desktop app reopening its last view through /login?next=/#… — comes back to it.

export interface Route {
  view: 'inbox' | 'settings'
  message: number | null
}

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, '')
  if (h === 'settings') return { view: 'settings', message: null }
  const m = /^message\/(\d{1,15})$/.exec(h)
  if (m) return { view: 'inbox', message: Number(m[1]) }
  return { view: 'inbox', message: null }
}

export function formatRoute(r: Route): string {
  if (r.view === 'settings') return '#settings'
  if (r.message !== null) return `#message/${r.message}`
  return ''
}
