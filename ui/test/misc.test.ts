import { describe, expect, it } from 'vitest'
import { EtaEstimator, parseProgress } from '../src/lib/progress'
import { accountHue, formatDuration, formatSize } from '../src/lib/format'
import { defaultPort, providerForAddress, serverFor } from '../src/lib/presets'
import { describeState, explainFailure, formatFingerprint } from '../src/lib/errors'
import { keyAction } from '../src/lib/keys'
import { frameCsp, frameDocument } from '../src/lib/frame'
import { LatestSearch, searchableText } from '../src/lib/search'

describe('progress', () => {
  it('reads done/total from the state detail', () => {
    expect(parseProgress('120/4000')).toEqual({ done: 120, total: 4000 })
    expect(parseProgress('INBOX 5 / 10')).toEqual({ done: 5, total: 10 })
    expect(parseProgress('login failed')).toBeNull()
    expect(parseProgress('3/0')).toBeNull()
    expect(parseProgress(null)).toBeNull()
  })

  it('estimates the time left from the recent rate', () => {
    const eta = new EtaEstimator()
    expect(eta.update('a', { done: 100, total: 1100 }, 0)).toBeNull()
    // 100 messages per second: 900 left after the second sample.
    expect(eta.update('a', { done: 200, total: 1100 }, 1000)).toBeCloseTo(9)
    // A new pass starts over.
    expect(eta.update('a', { done: 10, total: 50 }, 2000)).toBeNull()
    expect(eta.update('a', null, 3000)).toBeNull()
  })
})

describe('format', () => {
  it('sizes and durations', () => {
    expect(formatSize(512)).toBe('512 B')
    expect(formatSize(1536)).toBe('1.5 KB')
    expect(formatSize(25 * 1024 * 1024)).toBe('25 MB')
    expect(formatDuration(42)).toBe('42 s')
    expect(formatDuration(150)).toBe('3 min')
    expect(formatDuration(3 * 3600 + 600)).toBe('3 h 10 min')
    expect(accountHue('work')).toBe(accountHue('work'))
  })
})

describe('presets', () => {
  it('finds the provider of an address and its servers', () => {
    const g = providerForAddress('Someone@GMAIL.com')!
    expect(g.id).toBe('gmail')
    expect(serverFor(g, 'imap')).toEqual({ host: 'imap.gmail.com', port: 993, tls: 'implicit' })
    expect(serverFor(providerForAddress('x@icloud.com')!, 'pop3')).toBeUndefined()
    expect(providerForAddress('me@example.org')).toBeUndefined()
    expect(defaultPort('pop3', 'starttls')).toBe(110)
    expect(defaultPort('imap', 'implicit')).toBe(993)
  })
})

describe('errors', () => {
  it('explains a test failure in plain words', () => {
    expect(explainFailure({ error: 'auth_failed', detail: 'NO [AUTHENTICATIONFAILED]' }).title).toMatch(/password/)
    const fp = 'ab'.repeat(32)
    const tls = explainFailure({ error: 'tls_error', detail: 'x', fingerprint: fp })
    expect(tls.title).toBe('Certificate not trusted')
    expect(tls.fingerprint).toBe(fp)
    expect(explainFailure({ error: 'tls_error', detail: 'expired' }).fingerprint).toBeNull()
    expect(explainFailure({ error: 'unreachable', detail: 'refused' }).title).toMatch(/unreachable/)
    expect(formatFingerprint('abcd01')).toBe('AB:CD:01')
    expect(describeState('syncing', '120/4000')).toBe('Syncing 120/4000')
    expect(describeState('auth_failed', 'bad')).toMatch(/refused/)
  })
})

describe('keys', () => {
  it('maps the documented shortcuts and leaves text fields alone', () => {
    expect(keyAction({ key: 'j' }, false)).toBe('next')
    expect(keyAction({ key: 'k' }, false)).toBe('prev')
    expect(keyAction({ key: 'Enter' }, false)).toBe('open')
    expect(keyAction({ key: 'e' }, false)).toBe('delete')
    expect(keyAction({ key: 's' }, false)).toBe('flag')
    expect(keyAction({ key: 'u' }, false)).toBe('unread')
    expect(keyAction({ key: '/' }, false)).toBe('search')
    expect(keyAction({ key: '?' }, false)).toBe('help')
    expect(keyAction({ key: 'j' }, true)).toBeNull()
    expect(keyAction({ key: 'Escape' }, true)).toBe('escape')
    expect(keyAction({ key: 'a', ctrlKey: true }, false)).toBe('select-all')
    expect(keyAction({ key: 'r', ctrlKey: true }, false)).toBeNull()
  })
})

describe('frame', () => {
  it('allows remote images only when asked', () => {
    expect(frameCsp(false)).toContain('img-src data:;')
    expect(frameCsp(false)).not.toContain('https:')
    expect(frameCsp(true)).toContain('https:')
    expect(frameCsp(true)).toContain("default-src 'none'")
  })
  it('escapes plain text and keeps sanitised HTML', () => {
    const t = frameDocument({ text: '<script>x</script> & "q"' }, false, false)
    expect(t).toContain('&lt;script&gt;x&lt;/script&gt; &amp; &quot;q&quot;')
    expect(t).not.toContain('<script>')
    const h = frameDocument({ html: '<p>Hi</p>', text: 'Hi' }, true, false)
    expect(h).toContain('<p>Hi</p>')
    expect(h).toContain('Content-Security-Policy')
  })
})

describe('LatestSearch', () => {
  function setup() {
    const pending: { text: string; resolve: (v: string) => void; reject: (e: unknown) => void }[] = []
    const shown: [string, string, boolean][] = []
    const failed: string[] = []
    const s = new LatestSearch<string>(
      (text) => new Promise((resolve, reject) => pending.push({ text, resolve, reject })),
      (text, r, current) => shown.push([text, r, current]),
      (text) => failed.push(text),
    )
    const settle = () => new Promise((r) => setTimeout(r, 0))
    return { s, pending, shown, failed, settle }
  }

  it('asks at once, then folds keystrokes made meanwhile into one question', async () => {
    const { s, pending, shown, settle } = setup()
    s.input('qu')
    expect(pending.map((p) => p.text)).toEqual(['qu'])
    s.input('qua')
    s.input('quar')
    s.input('quart ')
    expect(pending.length).toBe(1)
    pending[0].resolve('R-qu')
    await settle()
    expect(shown).toEqual([['qu', 'R-qu', false]])
    expect(pending.map((p) => p.text)).toEqual(['qu', 'quart'])
    pending[1].resolve('R-quart')
    await settle()
    expect(shown.at(-1)).toEqual(['quart', 'R-quart', true])
    expect(pending.length).toBe(2)
  })

  it('drops answers made stale by a cleared box', async () => {
    const { s, pending, shown, settle } = setup()
    s.input('report')
    expect(s.input('')).toBe(false)
    pending[0].resolve('late')
    await settle()
    expect(shown).toEqual([])
    expect(pending.length).toBe(1)
  })

  it('leaves out a one-letter last word still being typed', () => {
    expect(searchableText('budget r')).toBe('budget')
    expect(searchableText('budget re')).toBe('budget re')
    expect(searchableText('budget r ')).toBe('budget r')
    expect(searchableText(' q ')).toBe('q')
    expect(searchableText('ab')).toBe('ab')
  })

  it('answers a text it has just answered without asking again', async () => {
    const { s, pending, shown, settle } = setup()
    s.input('budget')
    pending[0].resolve('R')
    await settle()
    s.input('budget r')
    expect(pending.length).toBe(1)
    expect(shown.at(-1)).toEqual(['budget', 'R', true])
    s.input('budget re')
    expect(pending.map((p) => p.text)).toEqual(['budget', 'budget re'])
  })

  it('asks again about the same text when told the messages changed', async () => {
    const { s, pending, settle } = setup()
    s.input('budget')
    pending[0].resolve('R')
    await settle()
    s.refresh('budget')
    expect(pending.map((p) => p.text)).toEqual(['budget', 'budget'])
  })

  it('does not ask about one letter', () => {
    const { s, pending } = setup()
    expect(s.input(' q ')).toBe(false)
    expect(pending.length).toBe(0)
  })

  it('reports a failure of the latest question only', async () => {
    const { s, pending, failed, settle } = setup()
    s.input('ab')
    pending[0].reject(new Error('down'))
    await settle()
    expect(failed).toEqual(['ab'])
  })
})

describe('route', async () => {
  const { parseRoute, formatRoute } = await import('../src/lib/route')
  it('reads and writes the view in the fragment', () => {
    expect(parseRoute('#settings')).toEqual({ view: 'settings', message: null })
    expect(parseRoute('#message/42')).toEqual({ view: 'inbox', message: 42 })
    expect(parseRoute('#/message/7')).toEqual({ view: 'inbox', message: 7 })
    expect(parseRoute('#message/x')).toEqual({ view: 'inbox', message: null })
    expect(parseRoute('')).toEqual({ view: 'inbox', message: null })
    for (const r of [{ view: 'settings', message: null }, { view: 'inbox', message: 9 }, { view: 'inbox', message: null }] as const)
      expect(parseRoute(formatRoute(r))).toEqual(r)
  })
})

describe('formatListDate', async () => {
  const { formatListDate } = await import('../src/lib/format')
  it('shows the time today, the weekday this week and the date before', () => {
    const now = new Date(2026, 5, 10, 15, 0) // a Wednesday
    const at = (d: Date) => Math.floor(d.getTime() / 1000)
    expect(formatListDate(at(new Date(2026, 5, 10, 9, 5)), now)).toMatch(/09.05/)
    expect(formatListDate(at(new Date(2026, 5, 8, 9, 5)), now)).not.toMatch(/09.05/)
    expect(formatListDate(at(new Date(2026, 0, 2)), now)).toMatch(/2/)
    expect(formatListDate(at(new Date(2024, 0, 2)), now)).toMatch(/2024/)
  })
})

describe('TrustedSenders', async () => {
  const { TrustedSenders } = await import('../src/lib/remote')
  function memory() {
    const m = new Map<string, string>()
    return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), m }
  }
  it('remembers senders case-insensitively', () => {
    const store = memory()
    const t = new TrustedSenders(store)
    expect(t.has('News@Example.org')).toBe(false)
    t.add('News@Example.org')
    expect(new TrustedSenders(store).has('news@example.org')).toBe(true)
    expect(t.has(null)).toBe(false)
  })
  it('survives damaged or missing storage', () => {
    const store = memory()
    store.m.set('switchboard.remote-images.senders', '{broken')
    expect(new TrustedSenders(store).has('a@b')).toBe(false)
    const none = new TrustedSenders(null)
    none.add('a@b')
    expect(none.has('a@b')).toBe(false)
  })
})
