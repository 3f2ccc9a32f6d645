import { describe, expect, it } from 'vitest'
import { nearEnd, scrollToShow, virtualWindow } from '../src/lib/virtual'

describe('virtualWindow', () => {
  it('renders only the rows in view plus the overscan', () => {
    const w = virtualWindow(0, 400, 40, 100_000, 5)
    expect(w.start).toBe(0)
    expect(w.end).toBe(16) // 10 visible + 1 partial + 5 overscan
    expect(w.offset).toBe(0)
    expect(w.total).toBe(4_000_000)
  })

  it('follows the scroll position', () => {
    const w = virtualWindow(40 * 5000 + 10, 400, 40, 100_000, 5)
    expect(w.start).toBe(4995)
    expect(w.end).toBe(5016)
    expect(w.offset).toBe(4995 * 40)
  })

  it('clamps at the end and for overscroll', () => {
    const w = virtualWindow(1e9, 400, 40, 100, 5)
    expect(w.end).toBe(100)
    expect(w.start).toBe(85)
    const neg = virtualWindow(-50, 400, 40, 100, 0)
    expect(neg.start).toBe(0)
  })

  it('handles an empty list and a list shorter than the viewport', () => {
    expect(virtualWindow(0, 400, 40, 0)).toEqual({ start: 0, end: 0, offset: 0, total: 0 })
    const w = virtualWindow(0, 400, 40, 3, 8)
    expect([w.start, w.end, w.total]).toEqual([0, 3, 120])
  })

  it('never renders more than a screenful plus overscan, wherever it is', () => {
    for (const top of [0, 1234, 99_999 * 40, 50_000 * 40 + 39]) {
      const w = virtualWindow(top, 700, 40, 100_000, 8)
      expect(w.end - w.start).toBeLessThanOrEqual(Math.ceil(700 / 40) + 1 + 16)
      expect(w.start * 40).toBe(w.offset)
    }
  })
})

describe('scrollToShow', () => {
  it('scrolls up, down, or not at all', () => {
    expect(scrollToShow(2, 400, 400, 40)).toBe(80)
    expect(scrollToShow(20, 0, 400, 40)).toBe(840 - 400)
    expect(scrollToShow(5, 0, 400, 40)).toBeNull()
  })
})

describe('nearEnd', () => {
  it('asks for more when the window comes close to the loaded end', () => {
    expect(nearEnd({ start: 0, end: 20, offset: 0, total: 0 }, 1000, 200)).toBe(false)
    expect(nearEnd({ start: 880, end: 900, offset: 0, total: 0 }, 1000, 200)).toBe(true)
  })
})
