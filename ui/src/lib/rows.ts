// The inbox keeps a slim row per message (not the whole summary), so 100,000 of them stay small,
// and merges pages and live changes into it.

import type { MessageSummary } from './types'
import { threadKey } from './threads'

export interface Row {
  id: number
  date: number
  from: string
  fromEmail: string
  subject: string
  thread: string
  seen: boolean
  flagged: boolean
  attachments: boolean
  accounts: string[]
  channel: string
}

// Account lists repeat: share one array per distinct list.
const accountLists = new Map<string, string[]>()

function accountsOf(m: MessageSummary): string[] {
  const names: string[] = []
  for (const s of m.sources ?? []) if (!names.includes(s.account)) names.push(s.account)
  const key = names.join('\u0000')
  let shared = accountLists.get(key)
  if (!shared) {
    shared = names
    accountLists.set(key, shared)
  }
  return shared
}

export function toRow(m: MessageSummary): Row {
  const subject = m.subject ?? ''
  return {
    id: m.id,
    date: m.date_unix,
    from: m.from?.name || m.from?.email || '(no sender)',
    fromEmail: m.from?.email ?? '',
    subject,
    thread: threadKey(subject),
    seen: m.flags.includes('seen'),
    flagged: m.flags.includes('flagged'),
    attachments: m.has_attachments,
    accounts: accountsOf(m),
    channel: m.channel ?? 'mail',
  }
}

/** Newest first; equal dates by id, higher first (the server's order). */
export function compareRows(a: Row, b: Row): number {
  return b.date - a.date || b.id - a.id
}

/**
 * Adds `fresh` rows to `rows` (both newest first) and replaces rows with the same id.
 * When `complete` is false, `rows` ends at a page boundary: a fresh row older than its last row
 * belongs to a page not loaded yet and is left for that page.
 */
export function mergeRows(rows: readonly Row[], fresh: readonly Row[], complete: boolean): Row[] {
  if (fresh.length === 0) return rows as Row[]
  const byId = new Map<number, Row>()
  for (const r of fresh) byId.set(r.id, r)
  const last = rows.length ? rows[rows.length - 1] : null
  const out: Row[] = []
  for (const r of rows) {
    const f = byId.get(r.id)
    if (f) {
      byId.delete(r.id)
      out.push(f)
    } else out.push(r)
  }
  const added = [...byId.values()].filter((r) => complete || !last || compareRows(r, last) <= 0)
  if (added.length === 0) return out
  return out.concat(added).sort(compareRows)
}

export function removeRows(rows: readonly Row[], ids: Iterable<number>): Row[] {
  const gone = new Set(ids)
  if (gone.size === 0) return rows as Row[]
  return rows.filter((r) => !gone.has(r.id))
}

export function patchRows(rows: readonly Row[], ids: Iterable<number>, patch: Partial<Pick<Row, 'seen' | 'flagged'>>): Row[] {
  const set = new Set(ids)
  return rows.map((r) => (set.has(r.id) ? { ...r, ...patch } : r))
}

/** Filters as the server applies them, for rows changed here or search results. */
export interface Filters {
  account: string | null
  unread: boolean
  flagged: boolean
}

export function matchesFilters(r: Row, f: Filters): boolean {
  if (f.account && !r.accounts.includes(f.account)) return false
  if (f.unread && r.seen) return false
  if (f.flagged && !r.flagged) return false
  return true
}
