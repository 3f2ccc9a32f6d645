import { describe, expect, it } from 'vitest'
import { click, emptySelection, move, retain, selectAll, targets } from '../src/lib/selection'

const order = ['a', 'b', 'c', 'd', 'e']
const keys = (s: { keys: ReadonlySet<string> }) => [...s.keys].sort()

describe('selection', () => {
  it('click selects one, toggle adds and removes, range spans from the anchor', () => {
    let s = click(emptySelection, order, 'b', 'single')
    expect(keys(s)).toEqual(['b'])
    s = click(s, order, 'd', 'toggle')
    expect(keys(s)).toEqual(['b', 'd'])
    s = click(s, order, 'd', 'toggle')
    expect(keys(s)).toEqual(['b'])
    s = click(click(emptySelection, order, 'b', 'single'), order, 'e', 'range')
    expect(keys(s)).toEqual(['b', 'c', 'd', 'e'])
    expect(s.anchor).toBe('b')
    s = click(s, order, 'a', 'range')
    expect(keys(s)).toEqual(['a', 'b'])
  })

  it('j/k move the cursor and stop at the ends', () => {
    let s = move(emptySelection, order, 1)
    expect(s.cursor).toBe('a')
    s = move(s, order, 1)
    expect(s.cursor).toBe('b')
    expect(keys(s)).toEqual(['b'])
    s = move(move(move(s, order, 1), order, 1), order, 5)
    expect(s.cursor).toBe('e')
    s = move(emptySelection, order, -1)
    expect(s.cursor).toBe('e')
    expect(move(emptySelection, [], 1)).toEqual(emptySelection)
  })

  it('shift-j extends the selection', () => {
    let s = move(emptySelection, order, 1)
    s = move(s, order, 1, true)
    s = move(s, order, 1, true)
    expect(keys(s)).toEqual(['a', 'b', 'c'])
    s = move(s, order, -1, true)
    expect(keys(s)).toEqual(['a', 'b'])
  })

  it('after a delete the cursor moves to the next row', () => {
    const s = click(emptySelection, order, 'c', 'single')
    const after = retain(s, ['a', 'b', 'd', 'e'], order)
    expect(after.cursor).toBe('d')
    expect(keys(after)).toEqual(['d'])
    const last = retain(click(emptySelection, order, 'e', 'single'), ['a', 'b', 'c', 'd'], order)
    expect(last.cursor).toBe('d')
  })

  it('targets are the selection, else the cursor', () => {
    expect(targets(emptySelection)).toEqual([])
    expect(targets({ keys: new Set(), anchor: null, cursor: 'c' })).toEqual(['c'])
    expect(targets(selectAll(order, null)).length).toBe(5)
  })
})
