import { describe, expect, it } from 'vitest'
import { Api } from '../src/lib/api'
import { emptyForm, explainSendError, hasText, isRecipient, prefill, prefixSubject, splitRecipients, toRequest, validate } from '../src/lib/compose'
import { keyAction } from '../src/lib/keys'
import { formatRoute, parseRoute } from '../src/lib/route'
import { deathReason, describeDelivery, formatSteps, isFinal, stepTime, type Delivery } from '../src/lib/tracker'
import type { MessageView } from '../src/lib/types'
import { fakeFetch, summary } from './helpers'

function full(over: Partial<MessageView> = {}): MessageView {
  return {
    ...summary(7),
    subject: 'Lunch on Friday',
    from: { email: 'dana@example.org', name: 'Dana' },
    to: [{ email: 'alice@localhost' }, { email: 'bob@example.org', name: 'Bob' }],
    cc: [{ email: 'carol@example.org' }],
    reply_to: [],
    references: [],
    text_body: 'Shall we?\n> earlier',
    attachments: [],
    parse_problems: [],
    remote_blocked: 0,
    ...over,
  }
}

describe('compose form', () => {
  it('splits and checks recipients as the API does', () => {
    expect(splitRecipients(' a@example.org, Bob B <b@example.org>;\nc@x.org ,')).toEqual(['a@example.org', 'Bob B <b@example.org>', 'c@x.org'])
    expect(isRecipient('a@example.org')).toBe(true)
    expect(isRecipient('Bob B <b@example.org>')).toBe(true)
    expect(isRecipient('not an address')).toBe(false)
    expect(isRecipient('"Quoted" <b@example.org>')).toBe(false)
  })

  it('names what is wrong, field by field', () => {
    expect(validate({ ...emptyForm(), to: '' })).toEqual({ to: 'Say who it goes to' })
    expect(validate({ ...emptyForm(), to: 'a@example.org, nope' }).to).toContain('“nope” is not an address')
    expect(validate({ ...emptyForm(), to: 'a@example.org', cc: 'x' }).cc).toContain('“x”')
    expect(validate({ ...emptyForm(), to: 'a@example.org' })).toEqual({})
    // A reply goes to the original's sender without a To.
    expect(validate({ ...prefill('reply', full()), to: '' })).toEqual({})
    expect(validate({ ...prefill('forward', full()), to: '' }).to).toBe('Say who it goes to')
  })

  it('becomes the API body of new mail, a reply, a reply to all and a forward', () => {
    expect(toRequest({ ...emptyForm('work'), to: 'a@example.org', subject: 'Hi', body: 'Text' })).toEqual({
      path: '/api/send',
      body: { account: 'work', to: ['a@example.org'], subject: 'Hi', body: 'Text' },
    })
    const reply = toRequest({ ...prefill('reply', full()), body: 'Yes' })
    expect(reply.path).toBe('/api/messages/7/reply')
    expect(reply.body).toEqual({ account: 'work', subject: 'Re: Lunch on Friday', body: 'Yes' })
    const all = toRequest({ ...prefill('reply-all', full()), cc: 'e@example.org', body: 'Yes' })
    expect(all.body).toMatchObject({ all: true, cc: ['e@example.org'] })
    expect(all.body.to).toBeUndefined()
    const fwd = toRequest({ ...prefill('forward', full()), to: 'f@example.org' })
    expect(fwd).toEqual({ path: '/api/messages/7/forward', body: { account: 'work', to: ['f@example.org'], subject: 'Fwd: Lunch on Friday', body: '' } })
    // No account chosen: the server's default.
    expect(toRequest({ ...emptyForm(), to: 'a@example.org' }).body.account).toBeUndefined()
  })

  it('prefills a reply: Re: once, the sender (Reply-To first), everyone else for all, the original quoted', () => {
    const r = prefill('reply', full())
    expect(r.replyingTo).toEqual(['Dana <dana@example.org>'])
    expect(r.subject).toBe('Re: Lunch on Friday')
    expect(r.body).toContain('Dana <dana@example.org> wrote:\n> Shall we?\n>> earlier')
    expect(prefill('reply', full({ subject: 'RE: Lunch' })).subject).toBe('RE: Lunch')
    expect(prefill('reply', full({ reply_to: [{ email: 'list@example.org' }] })).replyingTo).toEqual(['list@example.org'])
    const all = prefill('reply-all', full(), ['alice@localhost'])
    expect(all.replyingTo).toEqual(['Dana <dana@example.org>', 'Bob <bob@example.org>', 'carol@example.org'])
    expect(prefixSubject('Fwd', 'Fw: x')).toBe('Fw: x')
    expect(prefixSubject('Fwd', 'x')).toBe('Fwd: x')
  })

  it('knows when closing would lose text', () => {
    const start = prefill('reply', full())
    expect(hasText(start, start)).toBe(false)
    expect(hasText({ ...start, body: start.body + 'x' }, start)).toBe(true)
  })

  it('says how to set an outgoing server when the account has none', () => {
    const f = explainSendError(409, "account 'home' has no outgoing server; add one with `switchboard account smtp home --host HOST`", 'work')
    expect(f.title).toBe('The account “home” has no outgoing server')
    expect(f.advice).toContain('switchboard account smtp home --host HOST')
    expect(explainSendError(409, 'no account has an outgoing server; add one', '').title).toBe('No account has an outgoing server')
    expect(explainSendError(409, 'nobody to reply to: x', 'work').title).toBe('Nobody to reply to')
    expect(explainSendError(400, "'to' entry 'x' is not an address", 'work').detail).toContain("'to' entry")
  })
})

describe('keys for writing', () => {
  it('maps c, r, a, f and g t', () => {
    expect(keyAction({ key: 'c' }, false)).toBe('compose')
    expect(keyAction({ key: 'r' }, false)).toBe('reply')
    expect(keyAction({ key: 'a' }, false)).toBe('reply-all')
    expect(keyAction({ key: 'f' }, false)).toBe('forward')
    expect(keyAction({ key: 't' }, false, true)).toBe('go-tracker')
    expect(keyAction({ key: 'c' }, false, true)).toBe('go-chats')
    expect(keyAction({ key: 'r' }, true)).toBeNull()
    expect(keyAction({ key: 'a', ctrlKey: true }, false)).toBe('select-all')
  })
})

describe('tracker', () => {
  const d: Delivery = {
    id: 5,
    message_id: null,
    outgoing_id: 2,
    channel: 'submit',
    target: '127.0.0.1:2525',
    state: 'dead',
    attempts: 2,
    summary: 'Re: Lunch',
    created_at: 0,
    updated_at: 0,
    events: [
      { at: Date.UTC(2026, 0, 1, 10, 0, 2), state: 'failed', attempt: 1, code: 451, answer: 'try later' },
      { at: Date.UTC(2026, 0, 1, 10, 0, 0), state: 'queued' },
      { at: Date.UTC(2026, 0, 1, 10, 5, 0), state: 'dead', attempt: 2, code: 550, answer: 'no such user' },
    ],
  }

  it('lists the steps oldest first with time, words and the remote answer', () => {
    const now = Date.UTC(2026, 0, 1, 12, 0, 0)
    const steps = formatSteps(d.events, now)
    expect(steps.map((s) => s.what)).toEqual(['Queued', 'Failed', 'Dead letter'])
    expect(steps[1].answer).toBe('451 try later')
    expect(steps[0].answer).toBe('')
    expect(steps[2].bad).toBe(true)
    expect(steps[0].bad).toBe(false)
    expect(steps[1].attempt).toBe(1)
    expect(steps[0].iso).toBe('2026-01-01T10:00:00.000Z')
    expect(stepTime(d.events[0].at, now)).toMatch(/^\d\d:\d\d:02$/)
    expect(stepTime(d.events[0].at, now + 3 * 86_400_000)).toMatch(/^2026-01-0\d \d\d:\d\d:02$/)
  })

  it('says why a dead letter died and what a delivery is', () => {
    expect(deathReason(d)).toBe('550 no such user')
    expect(deathReason({ ...d, events: [{ at: 1, state: 'dead' }] })).toBe('No reason recorded')
    expect(describeDelivery(d)).toBe('Sent through 127.0.0.1:2525')
    expect(describeDelivery({ channel: 'desktop', target: '' })).toBe('Desktop notification')
    expect(isFinal('delivered')).toBe(true)
    expect(isFinal('failed')).toBe(false)
  })

  it('routes to a message’s deliveries and to one sent delivery', () => {
    expect(parseRoute('#tracker')).toEqual({ view: 'tracker', message: null })
    expect(parseRoute('#tracker/message/42')).toEqual({ view: 'tracker', message: 42 })
    expect(parseRoute('#tracker/delivery/7')).toEqual({ view: 'tracker', message: null, delivery: 7 })
    expect(formatRoute({ view: 'tracker', message: 42 })).toBe('#tracker/message/42')
    expect(formatRoute({ view: 'tracker', message: null, delivery: 7 })).toBe('#tracker/delivery/7')
    expect(formatRoute({ view: 'tracker', message: null })).toBe('#tracker')
  })

  it('finds a delivery by looking state by state, and retries', async () => {
    const f = fakeFetch((method, url) => {
      if (url.startsWith('/api/deliveries?state=delivered')) return { status: 200, body: [{ ...d, state: 'delivered' }] }
      if (method === 'POST') return { status: 200, body: [d] }
      return { status: 200, body: [] }
    })
    const api = new Api(f.fn)
    const found = await api.delivery(5)
    expect(found?.state).toBe('delivered')
    expect(f.calls.map((c) => c.url)).toEqual([
      '/api/deliveries?state=queued&limit=1000',
      '/api/deliveries?state=sending&limit=1000',
      '/api/deliveries?state=accepted&limit=1000',
      '/api/deliveries?state=delivered&limit=1000',
    ])
    await api.retryDelivery(5)
    expect(f.calls.at(-1)).toMatchObject({ method: 'POST', url: '/api/deliveries/5/retry' })
    expect(await new Api(fakeFetch(() => ({ status: 200, body: [] })).fn).delivery(9)).toBeNull()
  })

  it('sends the compose request and keeps the server’s words on refusal', async () => {
    const f = fakeFetch(() => ({ status: 409, body: { error: 'conflict', detail: "account 'work' has no outgoing server" } }))
    const e = await new Api(f.fn).compose({ path: '/api/send', body: { to: ['a@example.org'] } }).catch((x) => x)
    expect(e.status).toBe(409)
    expect(e.detail).toContain('no outgoing server')
    expect(f.calls[0]).toMatchObject({ method: 'POST', url: '/api/send', body: { to: ['a@example.org'] } })
  })
})
