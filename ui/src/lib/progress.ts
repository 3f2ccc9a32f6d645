// Sync progress per account: the server reports "done/total" in the state's detail while a
// first sync runs; the rate over the last samples gives an ETA.

export interface Progress {
  done: number
  total: number
}

export function parseProgress(detail: string | null | undefined): Progress | null {
  if (!detail) return null
  const m = /(\d+)\s*\/\s*(\d+)/.exec(detail)
  if (!m) return null
  const done = Number(m[1])
  const total = Number(m[2])
  if (!(total > 0) || done < 0) return null
  return { done: Math.min(done, total), total }
}

interface Sample {
  t: number
  done: number
}

/** Remembers recent (time, done) samples per account and estimates the seconds left. */
export class EtaEstimator {
  private samples = new Map<string, Sample[]>()

  constructor(private readonly windowMs = 30_000) {}

  /** Records a sample (time in ms) and returns the ETA in seconds, or null when unknown. */
  update(account: string, p: Progress | null, t: number): number | null {
    if (!p) {
      this.samples.delete(account)
      return null
    }
    let list = this.samples.get(account) ?? []
    // A lower count means a new pass: start over.
    if (list.length && p.done < list[list.length - 1].done) list = []
    list.push({ t, done: p.done })
    while (list.length > 2 && t - list[0].t > this.windowMs) list.shift()
    this.samples.set(account, list)
    if (list.length < 2) return null
    const first = list[0]
    const dt = (t - first.t) / 1000
    const dn = p.done - first.done
    if (dt <= 0 || dn <= 0) return null
    return (p.total - p.done) / (dn / dt)
  }
}
