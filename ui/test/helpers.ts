import type { MessageSummary } from '../src/lib/types'
import type { Timers } from '../src/lib/undo'

export function summary(id: number, over: Partial<MessageSummary> = {}): MessageSummary {
  return {
    id,
    message_id: `m${id}@example.org`,
    subject: `Subject ${id}`,
    from: { email: `s${id}@example.org`, name: `Sender ${id}` },
    to: [{ email: 'me@example.org' }],
    date_unix: 1_700_000_000 + id * 60,
    size: 1000 + id,
    flags: [],
    has_attachments: false,
    sources: [{ account: 'work', kind: 'imap', remote_id: `uid ${id} in INBOX`, state: 'present', delete_pending: false }],
    ...over,
  }
}

/** Timers driven by hand: `advance(ms)` runs what is due. */
export class FakeTimers implements Timers {
  now = 0
  private seq = 0
  private due = new Map<number, { at: number; fn: () => void }>()
  set(fn: () => void, ms: number) {
    const h = ++this.seq
    this.due.set(h, { at: this.now + ms, fn })
    return h
  }
  clear(h: unknown) {
    this.due.delete(h as number)
  }
  advance(ms: number) {
    this.now += ms
    for (const [h, t] of [...this.due]) {
      if (t.at <= this.now) {
        this.due.delete(h)
        t.fn()
      }
    }
  }
  get count() {
    return this.due.size
  }
}

/** A fetch that answers from a routing function and records every request. */
export function fakeFetch(route: (method: string, url: string, body: unknown) => { status: number; body?: unknown; text?: string }) {
  const calls: { method: string; url: string; body: unknown; init?: RequestInit }[] = []
  const fn = async (url: string, init?: RequestInit) => {
    const method = init?.method ?? 'GET'
    const body = init?.body ? JSON.parse(String(init.body)) : undefined
    calls.push({ method, url, body, init })
    const r = route(method, url, body)
    const payload = r.text ?? (r.body === undefined ? '' : JSON.stringify(r.body))
    return new Response(r.status === 204 ? null : payload, {
      status: r.status,
      headers: { 'Content-Type': r.text ? 'text/plain' : 'application/json' },
    })
  }
  return { fn, calls }
}
