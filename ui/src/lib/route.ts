// What the window shows, in the URL's fragment (#settings, #message/42, #chats,
// #chat/account/contact, #tracker, #tracker/message/42, #tracker/delivery/7, #rules), so a reload — or the desktop app reopening its last view through
// /login?next=/#… — comes back to it.

export interface ChatRef {
  account: string
  contact: string
}

export interface Route {
  view: 'inbox' | 'settings' | 'chats' | 'tracker' | 'rules'
  message: number | null
  /** In the tracker: one sent delivery (#tracker/delivery/7, #rules). */
  delivery?: number | null
  /** The open conversation (only in the chats view). */
  chat?: ChatRef | null
}

function decode(s: string): string | null {
  try {
    return decodeURIComponent(s)
  } catch {
    return null
  }
}

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, '')
  if (h === 'settings') return { view: 'settings', message: null }
  if (h === 'chats') return { view: 'chats', message: null }
  if (h === 'tracker') return { view: 'tracker', message: null }
  if (h === 'rules') return { view: 'rules', message: null }
  const t = /^tracker\/(message|delivery)\/(\d{1,15})$/.exec(h)
  if (t) return t[1] === 'message' ? { view: 'tracker', message: Number(t[2]) } : { view: 'tracker', message: null, delivery: Number(t[2]) }
  const c = /^chat\/([^/]{1,200})\/([^/]{1,600})$/.exec(h)
  if (c) {
    const account = decode(c[1])
    const contact = decode(c[2])
    if (account && contact) return { view: 'chats', message: null, chat: { account, contact } }
    return { view: 'chats', message: null }
  }
  const m = /^message\/(\d{1,15})$/.exec(h)
  if (m) return { view: 'inbox', message: Number(m[1]) }
  return { view: 'inbox', message: null }
}

export function formatRoute(r: Route): string {
  if (r.view === 'settings') return '#settings'
  if (r.view === 'rules') return '#rules'
  if (r.view === 'tracker') {
    if (r.message !== null) return `#tracker/message/${r.message}`
    if (r.delivery) return `#tracker/delivery/${r.delivery}`
    return '#tracker'
  }
  if (r.view === 'chats') {
    if (r.chat) return `#chat/${encodeURIComponent(r.chat.account)}/${encodeURIComponent(r.chat.contact)}`
    return '#chats'
  }
  if (r.message !== null) return `#message/${r.message}`
  return ''
}
