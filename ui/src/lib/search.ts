// Search as you type, without a fixed delay: the first keystroke asks at once; keystrokes made
// while an answer is on its way are folded into one follow-up question with the latest text.
// The server's speed sets the pace, so a fast answer is never held back by a debounce timer and
// a slow one never piles up requests. Results older than those already shown are dropped.

/** Shorter texts match too much to be useful (and cost the most). */
export const MIN_SEARCH_LENGTH = 2

/**
 * What to ask about while typing: the text, less a last word of one letter just begun (it
 * matches every word with that initial — the costliest question, soon replaced by the next
 * keystroke). "budget r" asks about "budget"; "budget re" about both.
 */
export function searchableText(text: string): string {
  const t = text.trim()
  const m = /^(.*\S)\s+\S$/u.exec(t)
  return m && !/\s$/.test(text) ? m[1] : t
}

export class LatestSearch<T> {
  private generation = 0
  private shownGeneration = 0
  private inFlight = false
  private latest = ''
  /** The last answer shown, to answer the same text again without asking. */
  private last: { text: string; result: T } | null = null

  constructor(
    private readonly run: (text: string) => Promise<T>,
    /** `current` is true when the result answers the latest text. */
    private readonly deliver: (text: string, result: T, current: boolean) => void,
    private readonly fail: (text: string, error: unknown) => void,
  ) {}

  /** The text changed. Returns false when it is too short to ask about. */
  input(text: string): boolean {
    this.generation++
    this.latest = searchableText(text)
    if (this.latest.length < MIN_SEARCH_LENGTH) {
      // Anything still on its way is now stale.
      this.shownGeneration = this.generation
      this.last = null
      return false
    }
    if (!this.inFlight && this.last?.text === this.latest) {
      // Same question as the answer on screen ("budget" → "budget r"): nothing to ask.
      this.shownGeneration = this.generation
      this.deliver(this.last.text, this.last.result, true)
      return true
    }
    if (!this.inFlight) void this.ask()
    return true
  }

  cancel() {
    this.input('')
  }

  /** Asks again even if the text is unchanged (the messages changed). */
  refresh(text: string): boolean {
    this.last = null
    return this.input(text)
  }

  private async ask() {
    const gen = this.generation
    const text = this.latest
    this.inFlight = true
    try {
      const result = await this.run(text)
      if (gen > this.shownGeneration) {
        this.shownGeneration = gen
        this.last = { text, result }
        this.deliver(text, result, gen === this.generation)
      }
    } catch (e) {
      if (gen === this.generation) this.fail(text, e)
    } finally {
      this.inFlight = false
    }
    if (this.generation !== gen && this.latest.length >= MIN_SEARCH_LENGTH) void this.ask()
  }
}
