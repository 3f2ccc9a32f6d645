import { describe, expect, it } from 'vitest'
import { UndoableDeletes, type PendingDelete } from '../src/lib/undo'
import { FakeTimers } from './helpers'

describe('UndoableDeletes', () => {
  function setup() {
    const timers = new FakeTimers()
    const committed: number[][] = []
    const seen: PendingDelete[][] = []
    const d = new UndoableDeletes((ids) => void committed.push(ids), (p) => seen.push(p), 5000, timers)
    return { timers, committed, seen, d }
  }

  it('sends the delete only after the undo window', () => {
    const { timers, committed, d } = setup()
    d.delete([1, 2], '2 messages')
    expect(d.hiddenIds()).toEqual(new Set([1, 2]))
    timers.advance(4999)
    expect(committed).toEqual([])
    timers.advance(1)
    expect(committed).toEqual([[1, 2]])
    expect(d.hiddenIds().size).toBe(0)
  })

  it('undo within the window sends nothing and gives the ids back', () => {
    const { timers, committed, d, seen } = setup()
    const t = d.delete([3], 'one')
    expect(d.undo(t)).toEqual([3])
    timers.advance(10_000)
    expect(committed).toEqual([])
    expect(d.undo(t)).toBeNull()
    expect(seen.at(-1)).toEqual([])
  })

  it('flush sends everything pending at once (page closing)', async () => {
    const { timers, committed, d } = setup()
    d.delete([1], 'a')
    d.delete([2], 'b')
    await d.flush()
    expect(committed).toEqual([[1, 2]])
    timers.advance(10_000)
    expect(committed.length).toBe(1)
    expect(timers.count).toBe(0)
  })

  it('keeps separate deletes separately undoable', () => {
    const { timers, committed, d } = setup()
    const a = d.delete([1], 'a')
    d.delete([2], 'b')
    d.undo(a)
    timers.advance(5000)
    expect(committed).toEqual([[2]])
  })
})
