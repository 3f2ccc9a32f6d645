// Numbers and dates the way a person reads them.

export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return ''
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = bytes / 1024
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`
}

// Formatters are costly to make: one of each, made on first use.
const formats = new Map<string, Intl.DateTimeFormat>()
function fmt(key: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  let f = formats.get(key)
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, options)
    formats.set(key, f)
  }
  return f
}

/** Time today, weekday this week, day and month this year, else the full date. */
export function formatListDate(unix: number, now: Date = new Date()): string {
  const d = new Date(unix * 1000)
  const sameDay = d.toDateString() === now.toDateString()
  if (sameDay) return fmt('time', { hour: '2-digit', minute: '2-digit' }).format(d)
  const age = now.getTime() - d.getTime()
  if (age >= 0 && age < 6 * 86400_000) return fmt('weekday', { weekday: 'short' }).format(d)
  if (d.getFullYear() === now.getFullYear()) return fmt('day', { day: 'numeric', month: 'short' }).format(d)
  return fmt('date', { year: 'numeric', month: 'short', day: 'numeric' }).format(d)
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return ''
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`
  const h = Math.floor(seconds / 3600)
  const m = Math.round((seconds % 3600) / 60)
  return m ? `${h} h ${m} min` : `${h} h`
}

export function formatAddress(a: { name?: string | null; email: string } | null | undefined): string {
  if (!a) return ''
  return a.name ? `${a.name} <${a.email}>` : a.email
}

/** A stable hue per account name, for its badge. */
export function accountHue(name: string): number {
  let h = 0
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0
  return h % 360
}
