// The inbox as the window shows it: rows loaded page by page from /api/messages, the search
// results, filters, threads, selection and pending deletes, kept current by the server's event
// stream. Reactive state (Svelte runes); the decisions themselves live in the pure modules.

import { Api, ApiError } from './api'
import { compareRows, matchesFilters, mergeRows, patchRows, removeRows, toRow, type Filters, type Row } from './rows'
import { buildList, type ListItem } from './threads'
import { emptySelection, retain, type Selection } from './selection'
import { UndoableDeletes, type PendingDelete } from './undo'
import { LatestSearch } from './search'

const FIRST_PAGE = 100
const PAGE = 1000
// A few screens of results: enough while typing, and each one costs the server a lookup.
const SEARCH_LIMIT = 100

export class Inbox {
  rows = $state.raw<Row[]>([])
  complete = $state(false)
  loading = $state(false)
  loadedOnce = $state(false)
  error = $state<string | null>(null)
  signedOut = $state(false)

  filters = $state<Filters>({ account: null, unread: false, flagged: false })
  threaded = $state(true)
  expanded = $state.raw<ReadonlySet<string>>(new Set())
  selection = $state.raw<Selection>(emptySelection)

  searchText = $state('')
  searchRows = $state.raw<Row[] | null>(null)
  searching = $state(false)
  /** The text whose results are shown. */
  searchShownFor = $state('')
  /** The search answered as many rows as were asked for: there may be more matches. */
  searchCapped = $derived(this.searchRows !== null && this.searchRows.length >= SEARCH_LIMIT)

  pending = $state.raw<PendingDelete[]>([])
  hidden = $state.raw<ReadonlySet<number>>(new Set())

  /** Rows the list shows, before grouping. */
  shown: Row[] = $derived.by(() => {
    const base = this.searchRows ?? this.rows
    const hidden = this.hidden
    const f = this.filters
    // Server listings are already filtered; search results are filtered here.
    const filterHere = this.searchRows !== null
    if (hidden.size === 0 && !filterHere) return base
    return base.filter((r) => !hidden.has(r.id) && (!filterHere || matchesFilters(r, f)))
  })

  items: ListItem[] = $derived(buildList(this.shown, this.expanded, this.threaded && this.searchRows === null))
  keys: string[] = $derived(this.items.map((i) => i.key))

  private nextCursor: string | null = null
  private generation = 0
  private seq: number | null = null
  private refreshing: Promise<void> | null = null
  private refreshAgain = false
  private events: EventSource | null = null
  /** Called when the index moved (the chats follow the same stream). */
  readonly onIndexMoved = new Set<() => void>()
  readonly deletes: UndoableDeletes
  private readonly search: LatestSearch<Row[]>

  constructor(private readonly api: Api) {
    this.deletes = new UndoableDeletes(
      (ids) => this.commitDeletes(ids),
      (p) => {
        this.pending = p
        this.hidden = this.deletes.hiddenIds()
      },
    )
    this.search = new LatestSearch<Row[]>(
      async (text) => (await this.api.search(text, SEARCH_LIMIT)).map(toRow),
      (text, rows, current) => {
        this.searchRows = rows
        this.searchShownFor = text
        if (current) this.searching = false
      },
      (_t, e) => {
        this.searching = false
        this.fail(e)
      },
    )
  }

  private fail(e: unknown) {
    if (e instanceof ApiError && e.signedOut) this.signedOut = true
    else if (!(e instanceof DOMException && e.name === 'AbortError')) this.error = e instanceof Error ? e.message : String(e)
  }

  /** Loads the first page again (filters changed, or the list must be rebuilt). */
  async reload() {
    const gen = ++this.generation
    this.loading = true
    this.error = null
    try {
      const page = await this.api.listMessages({ ...this.filterParams(), limit: FIRST_PAGE })
      if (gen !== this.generation) return
      this.rows = page.messages.map(toRow)
      this.nextCursor = page.next_cursor ?? null
      this.complete = this.nextCursor === null
      this.selection = retain(this.selection, this.keysOf(this.rows))
      this.loadedOnce = true
    } catch (e) {
      if (gen === this.generation) this.fail(e)
    } finally {
      if (gen === this.generation) this.loading = false
    }
  }

  private keysOf(rows: Row[]): string[] {
    return rows.map((r) => `m${r.id}`)
  }

  private filterParams() {
    return { account: this.filters.account, unread: this.filters.unread, flagged: this.filters.flagged }
  }

  /** The next page, when the list is scrolled near its end. */
  async loadMore() {
    if (this.complete || this.loading || this.nextCursor === null || this.searchRows !== null) return
    const gen = this.generation
    this.loading = true
    try {
      const page = await this.api.listMessages({ ...this.filterParams(), limit: PAGE, cursor: this.nextCursor })
      if (gen !== this.generation) return
      const fresh = page.messages.map(toRow)
      const known = new Set(this.rows.map((r) => r.id))
      this.rows = this.rows.concat(fresh.filter((r) => !known.has(r.id)))
      this.nextCursor = page.next_cursor ?? null
      this.complete = this.nextCursor === null
    } catch (e) {
      this.fail(e)
    } finally {
      if (gen === this.generation) this.loading = false
    }
  }

  setFilters(f: Partial<Filters>) {
    this.filters = { ...this.filters, ...f }
    if (this.searchRows === null) void this.reload()
  }

  setSearch(text: string) {
    this.searchText = text
    const asking = this.search.input(text)
    if (!asking) {
      this.searching = false
      if (text.trim() === '') {
        this.searchRows = null
        this.searchShownFor = ''
      }
      return
    }
    this.searching = true
  }

  toggleThread(thread: string) {
    const s = new Set(this.expanded)
    if (s.has(thread)) s.delete(thread)
    else s.add(thread)
    this.expanded = s
  }

  /** Message ids behind list keys (a collapsed thread stands for all its messages). */
  idsFor(keys: string[]): number[] {
    const want = new Set(keys)
    const ids: number[] = []
    for (const item of this.items) if (want.has(item.key)) ids.push(...item.ids)
    return ids
  }

  rowById(id: number): Row | undefined {
    return (this.searchRows ?? this.rows).find((r) => r.id === id) ?? this.rows.find((r) => r.id === id)
  }

  /** Flags change here at once and on the server right after; a failure puts them back. */
  async setFlags(ids: number[], patch: { seen?: boolean; flagged?: boolean }) {
    if (ids.length === 0) return
    const before = { rows: this.rows, search: this.searchRows }
    this.rows = patchRows(this.rows, ids, patch)
    if (this.searchRows) this.searchRows = patchRows(this.searchRows, ids, patch)
    try {
      await Promise.all(ids.map((id) => this.api.setFlags(id, patch)))
      // The server's listing is filtered: a row that no longer matches leaves it.
      if (this.searchRows === null && (this.filters.unread || this.filters.flagged)) {
        this.rows = this.rows.filter((r) => !ids.includes(r.id) || matchesFilters(r, this.filters))
      }
    } catch (e) {
      this.rows = before.rows
      this.searchRows = before.search
      this.fail(e)
    }
  }

  /** Hides the messages now; the server deletes them when the undo window has passed. */
  delete(ids: number[]): number | null {
    if (ids.length === 0) return null
    const previous = this.keys
    const label = ids.length === 1 ? '1 message deleted' : `${ids.length} messages deleted`
    const token = this.deletes.delete(ids, label)
    this.selection = retain(this.selection, this.keys, previous)
    return token
  }

  undo(token?: number) {
    const t = token ?? this.pending.at(-1)?.token
    if (t === undefined) return null
    return this.deletes.undo(t)
  }

  private async commitDeletes(ids: number[]) {
    const results = await Promise.allSettled(ids.map((id) => this.api.deleteMessage(id, true)))
    const done = ids.filter((_, i) => results[i].status === 'fulfilled')
    this.rows = removeRows(this.rows, done)
    if (this.searchRows) this.searchRows = removeRows(this.searchRows, done)
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined
    if (failed) this.fail(failed.reason)
  }

  /** Sends pending deletes now (the page is closing). */
  flushDeletes() {
    void this.deletes.flush()
  }

  // ---- live updates -------------------------------------------------------------------------

  /** Follows the server's event stream; every sequence change brings the list up to date. */
  connect(url = '/api/events') {
    if (typeof EventSource === 'undefined' || this.events) return
    const es = new EventSource(url)
    this.events = es
    es.addEventListener('index', (ev) => {
      const seq = Number(JSON.parse((ev as MessageEvent).data).seq)
      if (this.seq === null) {
        this.seq = seq
        return
      }
      if (seq !== this.seq) {
        void this.refresh()
        for (const f of this.onIndexMoved) f()
      }
    })
    es.onerror = () => {
      // EventSource reconnects by itself; a lost session shows as a 401 on the next call.
      void this.api.index().catch((e) => this.fail(e))
    }
  }

  disconnect() {
    this.events?.close()
    this.events = null
  }

  /** Applies what changed since the last sequence; runs one at a time, coalescing bursts. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true
      return this.refreshing
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false
        try {
          await this.applyChanges()
        } catch (e) {
          this.fail(e)
        }
      } while (this.refreshAgain)
      this.refreshing = null
    })()
    return this.refreshing
  }

  private async applyChanges() {
    if (this.seq === null) this.seq = await this.api.index()
    const removed: number[] = []
    const touched = new Set<number>()
    let resync = false
    for (let i = 0; i < 100; i++) {
      const c = await this.api.changes(this.seq!)
      this.seq = c.seq
      if (c.resync) {
        resync = true
        break
      }
      removed.push(...c.removed)
      for (const m of [...c.added, ...c.updated]) touched.add(m.id)
      if (!c.more) break
    }
    if (resync) {
      this.seq = await this.api.index()
      await this.reload()
      return
    }
    for (const id of removed) touched.delete(id)
    if (removed.length) {
      this.rows = removeRows(this.rows, removed)
      if (this.searchRows) this.searchRows = removeRows(this.searchRows, removed)
    }
    if (touched.size === 0) return
    if (this.searchRows !== null) {
      this.search.refresh(this.searchText)
    }
    // New and changed messages near the top come with the first page; changed ones further
    // down are fetched one by one.
    const page = await this.api.listMessages({ ...this.filterParams(), limit: FIRST_PAGE })
    const fresh = page.messages.map(toRow)
    for (const r of fresh) touched.delete(r.id)
    // A held row inside the first page's span that the page lacks is gone or no longer
    // matches the filters; rows older than the page are left for their own pages.
    const inPage = new Set(fresh.map((r) => r.id))
    const lastFresh = fresh.at(-1)
    const pageComplete = page.next_cursor == null
    let rows = this.rows.filter(
      (r) => inPage.has(r.id) || (!pageComplete && lastFresh !== undefined && compareRows(r, lastFresh) > 0),
    )
    rows = mergeRows(rows, fresh, this.complete || pageComplete)
    const loaded = new Set(rows.map((r) => r.id))
    const further = [...touched].filter((id) => loaded.has(id)).slice(0, 50)
    if (further.length) {
      const got = await Promise.allSettled(further.map((id) => this.api.message(id)))
      const updated: Row[] = []
      got.forEach((g, i) => {
        if (g.status === 'fulfilled') updated.push(toRow(g.value))
        else rows = removeRows(rows, [further[i]])
      })
      rows = mergeRows(rows, updated.filter((r) => matchesFilters(r, this.filters)), true)
      const nonMatching = updated.filter((r) => !matchesFilters(r, this.filters)).map((r) => r.id)
      rows = removeRows(rows, nonMatching)
    }
    const previous = this.keys
    this.rows = rows
    this.selection = retain(this.selection, this.keys, previous)
  }
}
