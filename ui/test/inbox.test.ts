import { afterEach, describe, expect, it, vi } from 'vitest'
import { Api } from '../src/lib/api'
import { Inbox } from '../src/lib/inbox.svelte'
import type { MessageSummary } from '../src/lib/types'
import { fakeFetch, summary } from './helpers'

/** A pretend server: a message list (newest first by date), a change log, flags and deletes. */
function server(initial: MessageSummary[]) {
  let messages = [...initial].sort((a, b) => b.date_unix - a.date_unix || b.id - a.id)
  let seq = 1
  let changes: { seq: number; kind: 'added' | 'updated' | 'removed'; id: number }[] = []
  const change = (kind: 'added' | 'updated' | 'removed', id: number) => changes.push({ seq: ++seq, kind, id })
  const f = fakeFetch((method, url, body) => {
    const u = new URL(url, 'http://x')
    const path = u.pathname
    if (path === '/api/messages' && method === 'GET') {
      const limit = Number(u.searchParams.get('limit'))
      let list = messages
      if (u.searchParams.get('unread')) list = list.filter((m) => !m.flags.includes('seen'))
      const cursor = u.searchParams.get('cursor')
      if (cursor) {
        const [d, id] = cursor.split('.').map(Number)
        list = list.filter((m) => m.date_unix < d || (m.date_unix === d && m.id < id))
      }
      const page = list.slice(0, limit)
      const last = page.at(-1)
      return { status: 200, body: { messages: page, next_cursor: list.length > limit && last ? `${last.date_unix}.${last.id}` : null } }
    }
    const one = /^\/api\/messages\/(\d+)$/.exec(path)
    if (one) {
      const id = Number(one[1])
      const m = messages.find((x) => x.id === id)
      if (!m) return { status: 404, body: { error: 'not_found', detail: 'gone' } }
      if (method === 'DELETE') {
        messages = messages.filter((x) => x.id !== id)
        change('removed', id)
        return { status: 204 }
      }
      if (method === 'PATCH') {
        const b = body as { seen?: boolean }
        if (b.seen !== undefined) m.flags = b.seen ? ['seen'] : []
        change('updated', id)
        return { status: 200, body: { id, flags: m.flags } }
      }
      return { status: 200, body: { ...m, remote_blocked: 0 } }
    }
    if (path === '/api/index') return { status: 200, body: { seq } }
    if (path === '/api/changes') {
      const since = Number(u.searchParams.get('since'))
      const after = changes.filter((c) => c.seq > since)
      const pick = (k: string) => after.filter((c) => c.kind === k).map((c) => ({ id: c.id, size: 1, subject: '' }))
      return { status: 200, body: { seq, more: false, resync: false, added: pick('added'), updated: pick('updated'), removed: after.filter((c) => c.kind === 'removed').map((c) => c.id) } }
    }
    return { status: 404, body: { error: 'not_found', detail: path } }
  })
  return {
    api: new Api(f.fn),
    calls: f.calls,
    deliver(m: MessageSummary) {
      messages = [m, ...messages].sort((a, b) => b.date_unix - a.date_unix || b.id - a.id)
      change('added', m.id)
    },
    removeBehind(id: number) {
      messages = messages.filter((x) => x.id !== id)
      change('removed', id)
    },
    ids: () => messages.map((m) => m.id),
  }
}

const ids = (inbox: Inbox) => inbox.rows.map((r) => r.id)

afterEach(() => {
  vi.useRealTimers()
})

describe('Inbox', () => {
  it('loads the first page, then more as asked, until complete', async () => {
    const s = server(Array.from({ length: 250 }, (_, i) => summary(i + 1)))
    const inbox = new Inbox(s.api)
    await inbox.reload()
    expect(inbox.rows.length).toBe(100)
    expect(inbox.rows[0].id).toBe(250)
    expect(inbox.complete).toBe(false)
    await inbox.loadMore()
    expect(inbox.rows.length).toBe(250)
    expect(inbox.complete).toBe(true)
    expect(new Set(ids(inbox)).size).toBe(250)
  })

  it('follows changes: new mail on top, removed mail gone, flags updated', async () => {
    const s = server(Array.from({ length: 5 }, (_, i) => summary(i + 1)))
    const inbox = new Inbox(s.api)
    await inbox.reload()
    await inbox.refresh() // learns the sequence
    s.deliver(summary(6))
    s.removeBehind(2)
    await inbox.refresh()
    expect(ids(inbox)).toEqual([6, 5, 4, 3, 1])
    expect(inbox.items.length).toBe(5)
  })

  it('keeps rows beyond the loaded pages for their own page', async () => {
    const s = server(Array.from({ length: 150 }, (_, i) => summary(i + 1)))
    const inbox = new Inbox(s.api)
    await inbox.reload()
    await inbox.refresh()
    s.deliver(summary(151))
    await inbox.refresh()
    expect(inbox.rows.length).toBe(101)
    await inbox.loadMore()
    expect(inbox.rows.length).toBe(151)
    expect(new Set(ids(inbox)).size).toBe(151)
  })

  it('hides deleted messages at once and deletes them on the server after the undo window', async () => {
    vi.useFakeTimers()
    const s = server(Array.from({ length: 3 }, (_, i) => summary(i + 1)))
    const inbox = new Inbox(s.api)
    await inbox.reload()
    inbox.delete([2])
    expect(inbox.shown.map((r) => r.id)).toEqual([3, 1])
    expect(s.ids()).toContain(2)
    await vi.advanceTimersByTimeAsync(6000)
    expect(s.ids()).toEqual([3, 1])
    expect(ids(inbox)).toEqual([3, 1])
  })

  it('undo brings the message back and sends nothing', async () => {
    vi.useFakeTimers()
    const s = server(Array.from({ length: 3 }, (_, i) => summary(i + 1)))
    const inbox = new Inbox(s.api)
    await inbox.reload()
    inbox.delete([3])
    expect(inbox.undo()).toEqual([3])
    await vi.advanceTimersByTimeAsync(10_000)
    expect(s.ids()).toEqual([3, 2, 1])
    expect(inbox.shown.map((r) => r.id)).toEqual([3, 2, 1])
    expect(s.calls.some((c) => c.method === 'DELETE')).toBe(false)
  })

  it('marks read here and on the server; an unread filter lets the row go', async () => {
    const s = server(Array.from({ length: 3 }, (_, i) => summary(i + 1)))
    const inbox = new Inbox(s.api)
    inbox.filters = { account: null, unread: true, flagged: false }
    await inbox.reload()
    await inbox.setFlags([2], { seen: true })
    expect(ids(inbox)).toEqual([3, 1])
    expect(s.calls.find((c) => c.method === 'PATCH')?.body).toEqual({ seen: true })
  })

  it('a collapsed thread stands for all its messages', async () => {
    const s = server([summary(1, { subject: 'Plan' }), summary(2, { subject: 'Re: Plan' }), summary(3, { subject: 'Other' })])
    const inbox = new Inbox(s.api)
    await inbox.reload()
    expect(inbox.items.map((i) => i.key)).toEqual(['m3', 'm2'])
    expect(inbox.idsFor(['m2'])).toEqual([2, 1])
    inbox.toggleThread('plan')
    expect(inbox.items.map((i) => i.key)).toEqual(['m3', 'm2', 'm1'])
    expect(inbox.idsFor(['m2'])).toEqual([2])
  })
})
