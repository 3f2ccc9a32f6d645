import { describe, expect, it } from 'vitest'
import { Api } from '../src/lib/api'
import {
  MAX_IM_CHARS,
  PAUSED_AFTER_MS,
  TypingNotifier,
  buildChatList,
  checkDraft,
  conversationOf,
  describeChatAccount,
  describeChatState,
  explainSendError,
  inFlight,
  isTyping,
  lastLine,
  mergeMessages,
  presenceKind,
  presenceText,
  receiptText,
} from '../src/lib/chats'
import { CHAT_PAGE, Conversation } from '../src/lib/chats.svelte'
import { formatRoute, parseRoute } from '../src/lib/route'
import { keyAction } from '../src/lib/keys'
import { defaultPort } from '../src/lib/presets'
import type { ImContact, ImConversation, ImMessage } from '../src/lib/types'
import { FakeTimers, fakeFetch, summary } from './helpers'

function im(id: number, over: Partial<ImMessage> = {}): ImMessage {
  return {
    id,
    account: 'chat',
    contact: 'bob@example.org',
    direction: 'in',
    body: `message ${id}`,
    date: '2026-12-01T10:00:00Z',
    at_ms: 1_700_000_000_000 + id * 1000,
    state: 'received',
    seen: false,
    ...over,
  }
}

function conv(contact: string, last: ImMessage, over: Partial<ImConversation> = {}): ImConversation {
  return { account: 'chat', contact, presence: 'offline', messages: 1, unread: 0, last: { ...last, contact }, ...over }
}

function contact(jid: string, presence: string, over: Partial<ImContact> = {}): ImContact {
  return { account: 'chat', jid, subscription: 'both', presence, ...over }
}

describe('the chat list', () => {
  it('puts the newest conversation first, then contacts without one, online first', () => {
    const list = buildChatList(
      [conv('old@x.org', im(1)), conv('new@x.org', im(5)), conv('same-time@x.org', im(3, { at_ms: im(5).at_ms }))],
      [contact('zed@x.org', 'available'), contact('amy@x.org', 'offline'), contact('bea@x.org', 'dnd'), contact('old@x.org', 'away')],
    )
    expect(list.map((e) => e.contact)).toEqual([
      'new@x.org',
      'same-time@x.org',
      'old@x.org',
      'zed@x.org',
      'bea@x.org',
      'amy@x.org',
    ])
    expect(list.find((e) => e.contact === 'zed@x.org')?.last).toBeNull()
  })

  it('takes presence and name from the roster when it has them', () => {
    const [e] = buildChatList(
      [conv('bob@x.org', im(1), { presence: 'offline', name: null, unread: 2 })],
      [contact('bob@x.org', 'away', { name: 'Bob', status: 'at lunch' })],
    )
    expect(e).toMatchObject({ name: 'Bob', presence: 'away', status: 'at lunch', unread: 2 })
  })

  it('keeps the same contact of two accounts apart', () => {
    const list = buildChatList([conv('bob@x.org', im(1)), { ...conv('bob@x.org', im(2)), account: 'work' }], [])
    expect(list.map((e) => e.key)).toEqual(['work/bob@x.org', 'chat/bob@x.org'])
  })

  it('says the last message, marking yours', () => {
    expect(lastLine(im(1, { body: 'hi\n  there' }))).toBe('hi there')
    expect(lastLine(im(1, { direction: 'out', body: 'ok' }))).toBe('You: ok')
    expect(lastLine(null)).toBe('No messages yet')
  })
})

describe('presence', () => {
  it('is said in words, with the status', () => {
    expect(presenceText('available')).toBe('Online')
    expect(presenceText('away', 'back at 3')).toBe('Away: back at 3')
    expect(presenceText('dnd')).toBe('Busy, do not disturb')
    expect(presenceText('xa', '  ')).toBe('Away for a while')
    expect(presenceText('something-new')).toBe('Offline')
  })

  it('picks the dot', () => {
    expect(['chat', 'available', 'away', 'xa', 'dnd', 'offline'].map(presenceKind)).toEqual([
      'online',
      'online',
      'away',
      'away',
      'busy',
      'offline',
    ])
  })
})

describe('delivery states', () => {
  it('are said in words', () => {
    expect(receiptText('queued')).toBe('Sending…')
    expect(receiptText('sent')).toBe('Sent')
    expect(receiptText('delivered')).toBe('Delivered')
    expect(receiptText('failed', 'service-unavailable')).toBe('Not delivered: service-unavailable')
    expect(receiptText('received')).toBe('')
  })

  it('in flight while queued or sent', () => {
    expect(inFlight(im(1, { direction: 'out', state: 'queued' }))).toBe(true)
    expect(inFlight(im(1, { direction: 'out', state: 'acked' }))).toBe(false)
    expect(inFlight(im(1, { direction: 'in', state: 'received' }))).toBe(false)
  })
})

describe('merging messages', () => {
  it('orders oldest first, without duplicates, the fresher copy winning', () => {
    const held = [im(1), im(3, { direction: 'out', state: 'sent' })]
    const fresh = [im(3, { direction: 'out', state: 'delivered' }), im(2)]
    const merged = mergeMessages(held, fresh)
    expect(merged.map((m) => m.id)).toEqual([1, 2, 3])
    expect(merged[2].state).toBe('delivered')
  })

  it('orders by time before id (archive history arrives late)', () => {
    const merged = mergeMessages([im(10, { at_ms: 5 })], [im(2, { at_ms: 9 }), im(1, { at_ms: 5 })])
    expect(merged.map((m) => m.id)).toEqual([1, 10, 2])
  })
})

describe('the composer', () => {
  it('does not send blanks, and says nothing about them', () => {
    expect(checkDraft('')).toMatchObject({ ok: false, problem: null })
    expect(checkDraft(' \n\t')).toMatchObject({ ok: false, problem: null })
    expect(checkDraft(' hi ')).toMatchObject({ ok: true, problem: null, counter: null })
  })

  it('counts characters as the server does (one per code point)', () => {
    const emoji = '😀'.repeat(MAX_IM_CHARS)
    expect(emoji.length).toBe(2 * MAX_IM_CHARS)
    expect(checkDraft(emoji)).toMatchObject({ ok: true, length: MAX_IM_CHARS, counter: '0 characters left' })
  })

  it('refuses more than the limit, saying how much', () => {
    const c = checkDraft('a'.repeat(MAX_IM_CHARS + 5))
    expect(c.ok).toBe(false)
    expect(c.problem).toContain('16,389 characters, at most 16,384')
    expect(c.counter).toBe('5 characters over the limit')
    expect(checkDraft('a'.repeat(MAX_IM_CHARS - 200)).counter).toBe('200 characters left')
  })

  it('says the server’s refusals in plain words', () => {
    expect(explainSendError(400, 'the message is 20000 characters long')).toBe('Not sent: the message is 20000 characters long.')
    expect(explainSendError(409, 'there is no XMPP account')).toContain('Add an XMPP account in Settings')
    expect(explainSendError(502, 'remote-server-not-found')).toContain('the chat server refused it (remote-server-not-found)')
  })
})

describe('opening an IM from the inbox', () => {
  const own = (a: string) => (a === 'chat' ? 'alice@localhost' : null)
  const sources = [{ account: 'chat', kind: 'xmpp', remote_id: 'k', state: 'present', delete_pending: false }]

  it('goes to the sender’s conversation, or the recipient’s for one sent', () => {
    const incoming = summary(1, { channel: 'im', from: { email: 'bob@localhost' }, to: [{ email: 'alice@localhost' }], sources })
    expect(conversationOf(incoming, own)).toEqual({ account: 'chat', contact: 'bob@localhost' })
    const outgoing = summary(2, { channel: 'im', from: { email: 'Alice@localhost' }, to: [{ email: 'bob@localhost' }], sources })
    expect(conversationOf(outgoing, own)).toEqual({ account: 'chat', contact: 'bob@localhost' })
  })

  it('is nothing for mail', () => {
    expect(conversationOf(summary(3), own)).toBeNull()
  })
})

describe('routes, keys and settings', () => {
  it('keeps the open chat in the URL', () => {
    const r = { view: 'chats' as const, message: null, chat: { account: 'my chat', contact: 'bob@x.org' } }
    expect(formatRoute(r)).toBe('#chat/my%20chat/bob%40x.org')
    expect(parseRoute(formatRoute(r))).toEqual(r)
    expect(parseRoute('#chats')).toEqual({ view: 'chats', message: null })
    expect(parseRoute('#chat/%E0%A4%A/x')).toEqual({ view: 'chats', message: null })
  })

  it('goes to the chats with g then c', () => {
    expect(keyAction({ key: 'g' }, false)).toBe('go-prefix')
    expect(keyAction({ key: 'c' }, false, true)).toBe('go-chats')
    expect(keyAction({ key: 'i' }, false, true)).toBe('go-inbox')
    expect(keyAction({ key: 's' }, false)).toBe('flag')
    expect(keyAction({ key: 'j' }, false, true)).toBe('next')
    expect(keyAction({ key: 'c' }, true, true)).toBeNull()
  })

  it('knows XMPP’s ports and words', () => {
    expect(defaultPort('xmpp', 'starttls')).toBe(5222)
    expect(defaultPort('xmpp', 'implicit')).toBe(5223)
    expect(describeChatAccount({ username: 'a@x.org', host: '', port: 0, tls: 'starttls' })).toBe(
      'XMPP · a@x.org · server found by DNS · STARTTLS',
    )
    expect(describeChatState('ok', 'online as a@x.org/sb')).toBe('Online as a@x.org/sb')
    expect(describeChatState('auth_failed', 'not-authorized')).toBe('Login refused: not-authorized')
  })
})

describe('a conversation against the API', () => {
  function server(messages: ImMessage[]) {
    let list = [...messages]
    let next = 1000
    const f = fakeFetch((method, url, body) => {
      const u = new URL(url, 'http://x')
      if (u.pathname === '/api/im/conversations/chat/bob%40example.org' || u.pathname === '/api/im/conversations/chat/bob@example.org') {
        const limit = Number(u.searchParams.get('limit'))
        const before = u.searchParams.get('before')
        const newestFirst = [...list].sort((a, b) => b.at_ms - a.at_ms || b.id - a.id)
        const page = newestFirst.filter((m) => !before || m.id < Number(before)).slice(0, limit)
        return { status: 200, body: { messages: page } }
      }
      if (u.pathname === '/api/im/send' && method === 'POST') {
        const b = body as { text: string; to: string; account: string }
        if (b.text.includes('refuse')) return { status: 502, body: { error: 'im_error', detail: 'the server bounced it' } }
        const m = im(++next, { direction: 'out', state: 'queued', body: b.text, contact: b.to, seen: true })
        list.push(m)
        return { status: 202, body: { message: m } }
      }
      if (/^\/api\/messages\/\d+$/.test(u.pathname) && method === 'PATCH') {
        const id = Number(u.pathname.split('/').at(-1))
        list = list.map((m) => (m.id === id ? { ...m, seen: true } : m))
        return { status: 200, body: { flags: ['seen'] } }
      }
      return { status: 404, body: { error: 'not_found', detail: url } }
    })
    return { f, get: () => list }
  }

  it('loads the newest page, pages back, and marks incoming messages read', async () => {
    const s = server(Array.from({ length: CHAT_PAGE + 10 }, (_, i) => im(i + 1)))
    let reads = 0
    const c = new Conversation(new Api(s.f.fn), 'chat', 'bob@example.org', () => reads++)
    await c.refresh()
    expect(c.messages.length).toBe(CHAT_PAGE)
    expect(c.messages[0].id).toBe(11)
    expect(c.complete).toBe(false)
    expect(reads).toBe(1)
    await c.loadOlder()
    expect(c.messages.map((m) => m.id)).toEqual(Array.from({ length: CHAT_PAGE + 10 }, (_, i) => i + 1))
    expect(c.complete).toBe(true)
    // Every incoming message the view loaded was marked read on the server.
    await new Promise((r) => setTimeout(r, 0))
    expect(s.get().filter((m) => !m.seen).map((m) => m.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect(s.f.calls.some((c) => c.url.includes('before=11'))).toBe(true)
  })

  it('sends, showing the queued message at once; refusals come back in words', async () => {
    const s = server([im(1)])
    const c = new Conversation(new Api(s.f.fn), 'chat', 'bob@example.org')
    await c.refresh()
    expect(await c.send('hello bob')).toBe(true)
    expect(c.messages.at(-1)).toMatchObject({ body: 'hello bob', direction: 'out', state: 'queued' })
    const sent = s.f.calls.find((x) => x.url === '/api/im/send')
    expect(sent?.body).toEqual({ account: 'chat', to: 'bob@example.org', text: 'hello bob' })

    expect(await c.send('please refuse')).toBe(false)
    expect(c.sendError).toBe('Not sent: the chat server refused it (the server bounced it).')

    const calls = s.f.calls.length
    expect(await c.send('x'.repeat(MAX_IM_CHARS + 1))).toBe(false)
    expect(s.f.calls.length).toBe(calls)
    expect(c.sendError).toContain('Too long to send')
  })
})

describe('typing (chat states)', () => {
  it('shows the contact typing while composing is recent and newer than their last message', () => {
    const cs = { state: 'composing', at_ms: 10_000 }
    expect(isTyping(cs, null, 12_000)).toBe(true)
    expect(isTyping(cs, 9_000, 12_000)).toBe(true)
    expect(isTyping(cs, 11_000, 12_000)).toBe(false)
    expect(isTyping(cs, null, 41_000)).toBe(false)
    expect(isTyping({ state: 'paused', at_ms: 10_000 }, null, 12_000)).toBe(false)
    expect(isTyping(undefined, null, 12_000)).toBe(false)
  })

  it('says composing once, again after 15 s of typing, paused after 5 s idle, active when emptied', () => {
    const t = new FakeTimers()
    const said: string[] = []
    const n = new TypingNotifier((s) => said.push(s), t, () => t.now)
    n.input('h')
    n.input('he')
    t.advance(1000)
    n.input('hel')
    expect(said).toEqual(['composing'])
    t.advance(PAUSED_AFTER_MS)
    expect(said).toEqual(['composing', 'paused'])
    n.input('hell')
    expect(said).toEqual(['composing', 'paused', 'composing'])
    for (let i = 0; i < 16; i++) {
      t.advance(1000)
      n.input('hello'.repeat(i + 1))
    }
    expect(said.filter((s) => s === 'composing').length).toBe(3)
    n.input('   ')
    expect(said.at(-1)).toBe('active')
    expect(t.count).toBe(0)
  })

  it('says nothing after a send, and active when closed mid-draft', () => {
    const t = new FakeTimers()
    const said: string[] = []
    const n = new TypingNotifier((s) => said.push(s), t, () => t.now)
    n.input('hi')
    n.sent()
    t.advance(PAUSED_AFTER_MS * 2)
    n.stop()
    expect(said).toEqual(['composing'])
    n.input('more')
    n.stop()
    expect(said).toEqual(['composing', 'composing', 'active'])
  })
})
