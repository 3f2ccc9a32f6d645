import { describe, expect, it } from 'vitest'
import { Api, ApiError, normalizeProfiles, queryString } from '../src/lib/api'
import { fakeFetch, summary } from './helpers'

describe('queryString', () => {
  it('drops empty values and encodes the rest', () => {
    expect(queryString({ a: 1, b: undefined, c: null, d: false, e: '' })).toBe('?a=1')
    expect(queryString({ q: 'a b&c', unread: true })).toBe('?q=a%20b%26c&unread=true')
    expect(queryString({})).toBe('')
  })
})

describe('Api', () => {
  it('lists messages with the filters and the cursor', async () => {
    const f = fakeFetch(() => ({ status: 200, body: { messages: [summary(1)], next_cursor: '1.1' } }))
    const api = new Api(f.fn)
    const page = await api.listMessages({ limit: 100, cursor: '9.9', account: 'work', unread: true, flagged: false })
    expect(f.calls[0].url).toBe('/api/messages?limit=100&cursor=9.9&account=work&unread=true')
    expect(f.calls[0].init?.credentials).toBe('same-origin')
    expect(page.next_cursor).toBe('1.1')
    expect(page.messages[0].id).toBe(1)
  })

  it('asks for remote content only when allowed', async () => {
    const f = fakeFetch(() => ({ status: 200, body: { ...summary(3), remote_blocked: 0 } }))
    const api = new Api(f.fn)
    await api.message(3)
    await api.message(3, 'allow')
    expect(f.calls.map((c) => c.url)).toEqual(['/api/messages/3', '/api/messages/3?remote=allow'])
  })

  it('turns error bodies into ApiError with the server’s words', async () => {
    const f = fakeFetch(() => ({ status: 401, body: { error: 'unauthorized', detail: 'missing Authorization' } }))
    const api = new Api(f.fn)
    const e = await api.accounts().catch((x) => x)
    expect(e).toBeInstanceOf(ApiError)
    expect(e.status).toBe(401)
    expect(e.signedOut).toBe(true)
    expect(e.detail).toBe('missing Authorization')
  })

  it('reports a server that does not answer', async () => {
    const api = new Api(async () => {
      throw new TypeError('Failed to fetch')
    })
    const e = await api.syncStatus().catch((x) => x)
    expect(e.code).toBe('unreachable')
  })

  it('sends flags as JSON with PATCH and deletes with DELETE', async () => {
    const f = fakeFetch((m) => (m === 'PATCH' ? { status: 200, body: { id: 4, flags: ['seen'] } } : { status: 204 }))
    const api = new Api(f.fn)
    expect(await api.setFlags(4, { seen: true })).toEqual(['seen'])
    await api.deleteMessage(4)
    expect(f.calls[0]).toMatchObject({ method: 'PATCH', url: '/api/messages/4', body: { seen: true } })
    expect(f.calls[1]).toMatchObject({ method: 'DELETE', url: '/api/messages/4' })
  })

  it('treats deleting a message that is already gone as done', async () => {
    const f = fakeFetch(() => ({ status: 404, body: { error: 'not_found', detail: 'no message 4' } }))
    await expect(new Api(f.fn).deleteMessage(4)).resolves.toBeUndefined()
  })

  it('returns the connection test failure with the fingerprint (422)', async () => {
    const fp = 'ab'.repeat(32)
    const f = fakeFetch(() => ({ status: 422, body: { error: 'tls_error', detail: `fingerprint is ${fp}`, fingerprint: fp } }))
    const r = await new Api(f.fn).addAccount({ kind: 'imap', name: 'w', host: 'h', username: 'u', password: 'p' })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.failure.fingerprint).toBe(fp)
    expect(f.calls[0].body).toMatchObject({ kind: 'imap', name: 'w', password: 'p' })
  })

  it('returns the new account on success and throws on a bad request', async () => {
    let status = 201
    const f = fakeFetch(() =>
      status === 201 ? { status, body: { name: 'w', kind: 'imap' } } : { status, body: { error: 'bad_request', detail: "account 'w' exists" } },
    )
    const api = new Api(f.fn)
    const r = await api.addAccount({ kind: 'imap', name: 'w', host: 'h', username: 'u', password: 'p' })
    expect(r.ok && r.account.name).toBe('w')
    status = 400
    await expect(api.addAccount({ kind: 'imap', name: 'w', host: 'h', username: 'u', password: 'p' })).rejects.toThrow("account 'w' exists")
  })

  it('names accounts safely in paths', async () => {
    const f = fakeFetch(() => ({ status: 204 }))
    await new Api(f.fn).removeAccount('a/b c')
    expect(f.calls[0].url).toBe('/api/accounts/a%2Fb%20c')
  })

  it('switches profile with POST /api/profiles/active', async () => {
    const f = fakeFetch(() => ({ status: 200, body: { active: { name: 'Work' }, why: 'manual' } }))
    await new Api(f.fn).activateProfile('Work')
    expect(f.calls[0]).toMatchObject({ method: 'POST', url: '/api/profiles/active', body: { name: 'Work' } })
  })

  it('knows when there is no profiles API', async () => {
    const f = fakeFetch(() => ({ status: 404, body: { error: 'not_found', detail: 'no such endpoint' } }))
    expect(await new Api(f.fn).profiles()).toBeNull()
  })

  it('reads changes since a sequence', async () => {
    const f = fakeFetch(() => ({ status: 200, body: { seq: 9, more: false, resync: false, added: [], updated: [], removed: [3] } }))
    const c = await new Api(f.fn).changes(7)
    expect(f.calls[0].url).toBe('/api/changes?since=7&limit=500')
    expect(c.removed).toEqual([3])
  })

  it('fetches the raw source as text', async () => {
    const f = fakeFetch(() => ({ status: 200, text: 'Subject: x\r\n\r\nbody' }))
    const api = new Api(f.fn)
    expect(await api.raw(2)).toContain('Subject: x')
    expect(api.attachmentUrl(2, 1)).toBe('/api/messages/2/attachments/1')
  })
})

describe('normalizeProfiles', () => {
  it('reads a list or an object with the active name', () => {
    expect(normalizeProfiles([{ name: 'home', active: true }, { name: 'work' }])).toEqual([
      { name: 'home', active: true, label: undefined, why: undefined },
      { name: 'work', active: false, label: undefined, why: undefined },
    ])
    const overview = normalizeProfiles({ active: { name: 'Work', why: 'scheduled' }, why: 'scheduled: Work mon-fri', profiles: [{ name: 'Home' }, { name: 'Work' }] })
    expect(overview.map((p) => [p.name, p.active, p.why])).toEqual([
      ['Home', false, undefined],
      ['Work', true, 'scheduled: Work mon-fri'],
    ])
    expect(normalizeProfiles({ profiles: [{ name: 'home' }, { name: 'work' }], active: 'work' }).map((p) => p.active)).toEqual([false, true])
    expect(normalizeProfiles({})).toEqual([])
  })
})
