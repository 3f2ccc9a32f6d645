// Delete with undo: rows leave the list at once, but the DELETE is sent only when the undo window
// has passed (or the page is closing), because the server cannot bring a message back.

export interface Timers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

export interface PendingDelete {
  token: number
  ids: number[]
  label: string
}

export class UndoableDeletes {
  private pending = new Map<number, { entry: PendingDelete; handle: unknown }>()
  private next = 1

  constructor(
    private readonly commit: (ids: number[]) => Promise<void> | void,
    private readonly onChange: (pending: PendingDelete[]) => void = () => {},
    private readonly windowMs = 6000,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Schedules the delete; returns the token that `undo` takes. */
  delete(ids: number[], label: string): number {
    const token = this.next++
    const entry = { token, ids: [...ids], label }
    const handle = this.timers.set(() => void this.flush(token), this.windowMs)
    this.pending.set(token, { entry, handle })
    this.changed()
    return token
  }

  /** Cancels a pending delete; returns its ids (to show again), or null when too late. */
  undo(token: number): number[] | null {
    const p = this.pending.get(token)
    if (!p) return null
    this.timers.clear(p.handle)
    this.pending.delete(token)
    this.changed()
    return p.entry.ids
  }

  /** Sends one pending delete now (or all of them). */
  async flush(token?: number): Promise<void> {
    const tokens = token === undefined ? [...this.pending.keys()] : [token]
    const ids: number[] = []
    for (const t of tokens) {
      const p = this.pending.get(t)
      if (!p) continue
      this.timers.clear(p.handle)
      this.pending.delete(t)
      ids.push(...p.entry.ids)
    }
    if (tokens.length) this.changed()
    if (ids.length) await this.commit(ids)
  }

  /** Ids deleted here but not yet sent: kept out of the list when it reloads. */
  hiddenIds(): Set<number> {
    const s = new Set<number>()
    for (const { entry } of this.pending.values()) for (const id of entry.ids) s.add(id)
    return s
  }

  list(): PendingDelete[] {
    return [...this.pending.values()].map((p) => p.entry)
  }

  private changed() {
    this.onChange(this.list())
  }
}
