import { describe, expect, it } from 'vitest'
import { buildList, threadKey } from '../src/lib/threads'
import { toRow } from '../src/lib/rows'
import { summary } from './helpers'

describe('threadKey', () => {
  it('takes off reply and forward prefixes and list tags', () => {
    expect(threadKey('Re: Lunch')).toBe('lunch')
    expect(threadKey('RE: Fwd: re:  Lunch ')).toBe('lunch')
    expect(threadKey('[team] Re: Lunch')).toBe('lunch')
    expect(threadKey('AW: WG: Lunch')).toBe('lunch')
    expect(threadKey('Re[2]: Lunch')).toBe('lunch')
    expect(threadKey('Lunch: today')).toBe('lunch: today')
    expect(threadKey('')).toBe('')
  })
})

describe('buildList', () => {
  // Newest first, as the server lists them.
  const rows = [
    toRow(summary(5, { subject: 'Re: Lunch', flags: ['seen'] })),
    toRow(summary(4, { subject: 'Report' })),
    toRow(summary(3, { subject: 'Lunch', flags: ['seen', 'flagged'] })),
    toRow(summary(2, { subject: '' })),
    toRow(summary(1, { subject: '' })),
  ]

  it('puts a thread where its newest message is and collapses it', () => {
    const list = buildList(rows, new Set())
    expect(list.map((i) => i.key)).toEqual(['m5', 'm4', 'm2', 'm1'])
    expect(list[0].count).toBe(2)
    expect(list[0].ids).toEqual([5, 3])
    expect(list[0].flagged).toBe(true) // the older message is flagged
    expect(list[0].unread).toBe(false)
    expect(list[1].unread).toBe(true)
  })

  it('never groups messages without a subject', () => {
    const list = buildList(rows, new Set())
    expect(list.filter((i) => i.row.subject === '').length).toBe(2)
  })

  it('lists an expanded thread under its head', () => {
    const list = buildList(rows, new Set(['lunch']))
    expect(list.map((i) => [i.key, i.level])).toEqual([
      ['m5', 1],
      ['m3', 2],
      ['m4', 1],
      ['m2', 1],
      ['m1', 1],
    ])
    expect(list[0].ids).toEqual([5])
    expect(list[0].expanded).toBe(true)
    expect(list[0].flagged).toBe(false)
  })

  it('can show every message on its own', () => {
    const list = buildList(rows, new Set(), false)
    expect(list.length).toBe(5)
    expect(list.every((i) => i.count === 1)).toBe(true)
  })

  it('groups 100,000 rows', () => {
    const many = Array.from({ length: 100_000 }, (_, i) => toRow(summary(100_000 - i, { subject: `Topic ${i % 5000}` })))
    const list = buildList(many, new Set())
    expect(list.length).toBe(5000)
    expect(list[0].count).toBe(20)
  })
})

describe('treePositions', () => {
  it('numbers top-level items and children separately', async () => {
    const { treePositions } = await import('../src/lib/threads')
    const rows = [
      toRow(summary(5, { subject: 'Re: Lunch' })),
      toRow(summary(4, { subject: 'Report' })),
      toRow(summary(3, { subject: 'Lunch' })),
      toRow(summary(2, { subject: 'Lunch' })),
    ]
    const list = buildList(rows, new Set(['lunch']))
    const p = treePositions(list, true)
    expect([...p.pos]).toEqual([1, 1, 2, 2])
    expect([...p.size]).toEqual([2, 2, 2, 2])
    expect([...treePositions(list, false).size]).toEqual([-1, 2, 2, -1])
  })
})
