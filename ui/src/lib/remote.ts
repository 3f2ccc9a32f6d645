// Senders whose remote images load without asking ("always load images from this sender"),
// remembered in this browser only: a preference of the person at this screen, not of the store.

export interface KeyValue {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

const KEY = 'switchboard.remote-images.senders'
const MAX = 500

function normal(address: string): string {
  return address.trim().toLowerCase()
}

export class TrustedSenders {
  constructor(private readonly storage: KeyValue | null) {}

  private read(): string[] {
    try {
      const v = JSON.parse(this.storage?.getItem(KEY) ?? '[]')
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
    } catch {
      return []
    }
  }

  has(address: string | null | undefined): boolean {
    if (!address) return false
    return this.read().includes(normal(address))
  }

  add(address: string) {
    const a = normal(address)
    if (!a) return
    const list = this.read().filter((x) => x !== a)
    list.push(a)
    try {
      this.storage?.setItem(KEY, JSON.stringify(list.slice(-MAX)))
    } catch {
      // Storage full or disabled: the choice holds for this message only.
    }
  }
}

export function browserStorage(): KeyValue | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage
  } catch {
    return null
  }
}
