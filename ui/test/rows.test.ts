import { describe, expect, it } from 'vitest'
import { matchesFilters, mergeRows, patchRows, removeRows, toRow } from '../src/lib/rows'
import { summary } from './helpers'

describe('toRow', () => {
  it('keeps what the list shows', () => {
    const r = toRow(
      summary(7, {
        flags: ['seen', 'flagged'],
        has_attachments: true,
        from: { email: 'a@b.c', name: null },
        sources: [
          { account: 'home', kind: 'pop3', remote_id: 'x', state: 'present', delete_pending: false },
          { account: 'work', kind: 'imap', remote_id: 'y', state: 'present', delete_pending: false },
          { account: 'home', kind: 'pop3', remote_id: 'z', state: 'present', delete_pending: false },
        ],
      }),
    )
    expect(r.seen && r.flagged && r.attachments).toBe(true)
    expect(r.from).toBe('a@b.c')
    expect(r.accounts).toEqual(['home', 'work'])
    expect(r.channel).toBe('mail')
  })

  it('shares account lists between rows', () => {
    expect(toRow(summary(1)).accounts).toBe(toRow(summary(2)).accounts)
  })
})

describe('mergeRows', () => {
  const page = [10, 9, 8].map((i) => toRow(summary(i)))

  it('puts new messages in date order and replaces known ones', () => {
    const fresh = [toRow(summary(11)), toRow(summary(9, { flags: ['seen'] }))]
    const out = mergeRows(page, fresh, false)
    expect(out.map((r) => r.id)).toEqual([11, 10, 9, 8])
    expect(out[2].seen).toBe(true)
  })

  it('leaves older messages to the page that will hold them, unless the list is complete', () => {
    const old = [toRow(summary(3))]
    expect(mergeRows(page, old, false).map((r) => r.id)).toEqual([10, 9, 8])
    expect(mergeRows(page, old, true).map((r) => r.id)).toEqual([10, 9, 8, 3])
  })

  it('orders equal dates by id', () => {
    const a = toRow(summary(20, { date_unix: 5 }))
    const b = toRow(summary(21, { date_unix: 5 }))
    expect(mergeRows([a], [b], true).map((r) => r.id)).toEqual([21, 20])
  })
})

describe('removeRows and patchRows', () => {
  const rows = [3, 2, 1].map((i) => toRow(summary(i)))
  it('removes by id', () => {
    expect(removeRows(rows, [2]).map((r) => r.id)).toEqual([3, 1])
    expect(removeRows(rows, [])).toBe(rows)
  })
  it('patches flags by id without touching the others', () => {
    const out = patchRows(rows, [1, 3], { seen: true })
    expect(out.map((r) => r.seen)).toEqual([true, false, true])
    expect(out[1]).toBe(rows[1])
  })
})

describe('matchesFilters', () => {
  const r = toRow(summary(1, { flags: ['flagged'] }))
  it('applies account, unread and flagged', () => {
    expect(matchesFilters(r, { account: null, unread: false, flagged: false })).toBe(true)
    expect(matchesFilters(r, { account: 'home', unread: false, flagged: false })).toBe(false)
    expect(matchesFilters(r, { account: 'work', unread: true, flagged: true })).toBe(true)
    expect(matchesFilters({ ...r, seen: true }, { account: null, unread: true, flagged: false })).toBe(false)
  })
})
