// Conversations: messages with the same subject once "Re:", "Fwd:" and list tags are taken
// off. The list summaries carry no References header, and subject threading is what people
// recognise at a glance; a thread sits where its newest message is.

import type { Row } from './rows'

const PREFIX = /^\s*((re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|réf)\s*(\[\d+\])?\s*:|\[[^\]]{1,40}\])\s*/i

export function threadKey(subject: string): string {
  let s = subject ?? ''
  for (let i = 0; i < 20; i++) {
    const next = s.replace(PREFIX, '')
    if (next === s) break
    s = next
  }
  return s.replace(/\s+/g, ' ').trim().toLowerCase()
}

/** One line of the list: a message, or a thread's head standing for all of it. */
export interface ListItem {
  /** Stable key: `m<id>`. */
  key: string
  row: Row
  /** 1 for a top-level line, 2 inside an expanded thread. */
  level: 1 | 2
  /** For a thread head: every message id in the thread, newest first; else just this one. */
  ids: number[]
  /** Messages in the thread (1 for a lone message). */
  count: number
  /** Some message of the thread is unread. */
  unread: boolean
  /** Some message of the thread is flagged. */
  flagged: boolean
  expanded: boolean
}

/**
 * Groups rows (newest first) into threads, newest thread first. A thread whose key is in
 * `expanded` lists its older messages under its head. With `enabled` false every message
 * stands alone.
 */
export function buildList(rows: readonly Row[], expanded: ReadonlySet<string>, enabled = true): ListItem[] {
  if (!enabled) {
    return rows.map((row) => ({
      key: `m${row.id}`,
      row,
      level: 1,
      ids: [row.id],
      count: 1,
      unread: !row.seen,
      flagged: row.flagged,
      expanded: false,
    }))
  }
  const groups = new Map<string, Row[]>()
  const order: Row[][] = []
  for (const row of rows) {
    const key = row.thread
    // Messages without a subject never group: they have nothing in common.
    if (key === '') {
      order.push([row])
      continue
    }
    let g = groups.get(key)
    if (!g) {
      g = []
      groups.set(key, g)
      order.push(g)
    }
    g.push(row)
  }
  const out: ListItem[] = []
  for (const g of order) {
    const head = g[0]
    const open = g.length > 1 && expanded.has(head.thread)
    let unread = false
    let flagged = false
    for (const r of g) {
      if (!r.seen) unread = true
      if (r.flagged) flagged = true
    }
    out.push({
      key: `m${head.id}`,
      row: head,
      level: 1,
      ids: open ? [head.id] : g.map((r) => r.id),
      count: g.length,
      unread: open ? !head.seen : unread,
      flagged: open ? head.flagged : flagged,
      expanded: open,
    })
    if (open) {
      for (let i = 1; i < g.length; i++) {
        const r = g[i]
        out.push({
          key: `m${r.id}`,
          row: r,
          level: 2,
          ids: [r.id],
          count: 1,
          unread: !r.seen,
          flagged: r.flagged,
          expanded: false,
        })
      }
    }
  }
  return out
}

/**
 * aria-posinset / aria-setsize of every item, computed once per list: top-level items count
 * among themselves (size -1 while more pages may follow), children within their thread.
 */
export function treePositions(items: readonly ListItem[], complete: boolean): { pos: Int32Array; size: Int32Array } {
  const pos = new Int32Array(items.length)
  const size = new Int32Array(items.length)
  let top = 0
  let child = 0
  let head = -1
  for (let i = 0; i < items.length; i++) {
    if (items[i].level === 1) {
      pos[i] = ++top
      head = i
      child = 0
    } else {
      pos[i] = ++child
      size[i] = head >= 0 ? items[head].count - 1 : 0
    }
  }
  for (let i = 0; i < items.length; i++) if (items[i].level === 1) size[i] = complete ? top : -1
  return { pos, size }
}
