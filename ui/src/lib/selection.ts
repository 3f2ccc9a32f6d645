// Multi-select over the list's keys: click, ctrl-click (toggle), shift-click (range from the
// anchor), and a cursor for the keyboard. Pure: every operation returns a new state.

export interface Selection {
  /** Selected keys. */
  keys: ReadonlySet<string>
  /** Where shift-ranges start. */
  anchor: string | null
  /** The keyboard cursor (the focused row). */
  cursor: string | null
}

export const emptySelection: Selection = { keys: new Set(), anchor: null, cursor: null }

export type ClickMode = 'single' | 'toggle' | 'range'

export function click(sel: Selection, order: readonly string[], key: string, mode: ClickMode): Selection {
  if (mode === 'toggle') {
    const keys = new Set(sel.keys)
    if (keys.has(key)) keys.delete(key)
    else keys.add(key)
    return { keys, anchor: key, cursor: key }
  }
  if (mode === 'range' && sel.anchor !== null) {
    const a = order.indexOf(sel.anchor)
    const b = order.indexOf(key)
    if (a >= 0 && b >= 0) {
      const [lo, hi] = a < b ? [a, b] : [b, a]
      return { keys: new Set(order.slice(lo, hi + 1)), anchor: sel.anchor, cursor: key }
    }
  }
  return { keys: new Set([key]), anchor: key, cursor: key }
}

/** j/k: moves the cursor by `delta` rows; with `extend` the selection grows like shift-click. */
export function move(sel: Selection, order: readonly string[], delta: number, extend = false): Selection {
  if (order.length === 0) return emptySelection
  const at = sel.cursor === null ? -1 : order.indexOf(sel.cursor)
  const next = at < 0 ? (delta > 0 ? 0 : order.length - 1) : Math.max(0, Math.min(order.length - 1, at + delta))
  const key = order[next]
  if (extend) return click(sel.anchor === null ? { ...sel, anchor: sel.cursor ?? key } : sel, order, key, 'range')
  return { keys: new Set([key]), anchor: key, cursor: key }
}

/** Keeps only keys still in the list (after deletes or a reload); the cursor moves to a neighbour. */
export function retain(sel: Selection, order: readonly string[], previous: readonly string[] = []): Selection {
  const present = new Set(order)
  const keys = new Set([...sel.keys].filter((k) => present.has(k)))
  let cursor = sel.cursor
  if (cursor !== null && !present.has(cursor)) {
    // The row that now sits where the cursor was, else the one before it.
    const at = previous.indexOf(cursor)
    cursor = null
    if (at >= 0) {
      for (let i = at + 1; i < previous.length && cursor === null; i++) if (present.has(previous[i])) cursor = previous[i]
      for (let i = at - 1; i >= 0 && cursor === null; i--) if (present.has(previous[i])) cursor = previous[i]
    }
    if (cursor !== null && keys.size === 0) keys.add(cursor)
  }
  const anchor = sel.anchor !== null && present.has(sel.anchor) ? sel.anchor : cursor
  return { keys, anchor, cursor }
}

export function selectAll(order: readonly string[], cursor: string | null): Selection {
  return { keys: new Set(order), anchor: order[0] ?? null, cursor: cursor ?? order[0] ?? null }
}

/** What actions apply to: the selection, or the row under the cursor when nothing is selected. */
export function targets(sel: Selection): string[] {
  if (sel.keys.size > 0) return [...sel.keys]
  return sel.cursor !== null ? [sel.cursor] : []
}
