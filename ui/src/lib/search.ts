// Search as you type, without a fixed delay: the first keystroke asks at once; keystrokes made
// while an answer is on its way are folded into one follow-up question with the latest text.
// The server's speed sets the pace, so a fast answer is never held back by a debounce timer and
// a slow one never piles up requests. Results older than those already shown are dropped.

/** Shorter texts match too much to be useful (and cost the most). */
export const MIN_SEARCH_LENGTH = 2

export class LatestSearch<T> {
  private generation = 0
  private shownGeneration = 0
  private inFlight = false
  private latest = ''

  constructor(
    private readonly run: (text: string) => Promise<T>,
    /** `current` is true when the result answers the latest text. */
    private readonly deliver: (text: string, result: T, current: boolean) => void,
    private readonly fail: (text: string, error: unknown) => void,
  ) {}

  /** The text changed. Returns false when it is too short to ask about. */
  input(text: string): boolean {
    this.generation++
    this.latest = text.trim()
    if (this.latest.length < MIN_SEARCH_LENGTH) {
      // Anything still on its way is now stale.
      this.shownGeneration = this.generation
      return false
    }
    if (!this.inFlight) void this.ask()
    return true
  }

  cancel() {
    this.input('')
  }

  private async ask() {
    const gen = this.generation
    const text = this.latest
    this.inFlight = true
    try {
      const result = await this.run(text)
      if (gen > this.shownGeneration) {
        this.shownGeneration = gen
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
