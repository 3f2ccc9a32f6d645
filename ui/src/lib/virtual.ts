// Which rows of a long fixed-height list to put in the DOM: only those in view plus a margin,
// so 100,000 rows cost what 40 do.

export interface VirtualWindow {
  /** First row index rendered. */
  start: number
  /** One past the last row index rendered. */
  end: number
  /** Pixels above the first rendered row (its top offset). */
  offset: number
  /** Height of the whole list in pixels. */
  total: number
}

export function virtualWindow(
  scrollTop: number,
  viewport: number,
  rowHeight: number,
  count: number,
  overscan = 8,
): VirtualWindow {
  const total = count * rowHeight
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0, offset: 0, total: 0 }
  const top = Math.max(0, Math.min(scrollTop, Math.max(0, total - viewport)))
  const first = Math.floor(top / rowHeight)
  const visible = Math.ceil(Math.max(viewport, 0) / rowHeight) + 1
  const start = Math.max(0, first - overscan)
  const end = Math.min(count, first + visible + overscan)
  return { start, end, offset: start * rowHeight, total }
}

/** The scrollTop that brings `index` into view, or null when it already is. */
export function scrollToShow(
  index: number,
  scrollTop: number,
  viewport: number,
  rowHeight: number,
): number | null {
  const top = index * rowHeight
  const bottom = top + rowHeight
  if (top < scrollTop) return top
  if (bottom > scrollTop + viewport) return bottom - viewport
  return null
}

/** Whether the rows in view come within `margin` rows of the end of what is loaded. */
export function nearEnd(w: VirtualWindow, count: number, margin: number): boolean {
  return count - w.end < margin
}
