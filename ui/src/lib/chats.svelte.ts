// The chat list and one open conversation, kept current: new messages come with the index's
// event stream (as the inbox's do); presence and delivery receipts change no message, so they
// are polled — slowly for the list, quickly while a sent message is still on its way.

import { Api, ApiError } from './api'
import { buildChatList, checkDraft, explainSendError, inFlight, mergeMessages, type ChatEntry } from './chats'
import type { ImChatState, ImContact, ImConversation, ImMessage } from './types'

const LIST_POLL_MS = 5000
const CHAT_POLL_MS = 3000
const IN_FLIGHT_POLL_MS = 800
export const CHAT_PAGE = 50

function words(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

export class Chats {
  conversations = $state.raw<ImConversation[]>([])
  contacts = $state.raw<ImContact[]>([])
  loaded = $state(false)
  error = $state<string | null>(null)
  signedOut = $state(false)

  entries: ChatEntry[] = $derived(buildChatList(this.conversations, this.contacts))
  unread: number = $derived(this.conversations.reduce((n, c) => n + c.unread, 0))

  private timer: ReturnType<typeof setTimeout> | null = null
  private running = false
  private loading: Promise<void> | null = null
  private again = false

  /** Called when the index moved (the open conversation looks again). */
  readonly onIndexMoved = new Set<() => void>()

  constructor(private readonly api: Api) {}

  /** The index moved: a message came or went. */
  indexMoved() {
    void this.load()
    for (const f of this.onIndexMoved) f()
  }

  /** Loads both lists; calls made while one runs are folded into one more. */
  load(): Promise<void> {
    if (this.loading) {
      this.again = true
      return this.loading
    }
    this.loading = (async () => {
      do {
        this.again = false
        try {
          const [conversations, contacts] = await Promise.all([this.api.imConversations(), this.api.imContacts()])
          this.conversations = conversations
          this.contacts = contacts
          this.loaded = true
          this.error = null
        } catch (e) {
          if (e instanceof ApiError && e.signedOut) this.signedOut = true
          else this.error = words(e)
        }
      } while (this.again)
      this.loading = null
    })()
    return this.loading
  }

  start() {
    if (this.running) return
    this.running = true
    const tick = async () => {
      await this.load()
      if (this.running) this.timer = setTimeout(tick, LIST_POLL_MS)
    }
    void tick()
  }

  stop() {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  /** Marks a conversation's unread count read here at once (the view marks the messages). */
  markRead(account: string, contact: string) {
    if (!this.conversations.some((c) => c.account === account && c.contact === contact && c.unread > 0)) return
    this.conversations = this.conversations.map((c) =>
      c.account === account && c.contact === contact ? { ...c, unread: 0 } : c,
    )
  }
}

export class Conversation {
  /** Oldest first. */
  messages = $state.raw<ImMessage[]>([])
  loaded = $state(false)
  /** No older messages to page back to. */
  complete = $state(false)
  loadingOlder = $state(false)
  sending = $state(false)
  error = $state<string | null>(null)
  sendError = $state<string | null>(null)
  /** The contact's last chat state, and when this view last looked (for its age). */
  chatState = $state.raw<ImChatState | undefined>(undefined)
  checkedAt = $state(Date.now())

  private timer: ReturnType<typeof setTimeout> | null = null
  private running = false

  constructor(
    private readonly api: Api,
    readonly account: string,
    readonly contact: string,
    private readonly onread: () => void = () => {},
  ) {}

  /** The newest page, merged into what is held (new messages, changed delivery states). */
  async refresh() {
    try {
      const [page, states] = await Promise.all([
        this.api.imConversation(this.account, this.contact, { limit: CHAT_PAGE }),
        // A server without chat states (404) just shows none.
        this.api.imChatStates().catch(() => [] as ImChatState[]),
      ])
      this.chatState = states.find((c) => c.account === this.account && c.contact === this.contact)
      this.checkedAt = Date.now()
      if (!this.loaded) this.complete = page.length < CHAT_PAGE
      this.messages = mergeMessages(this.messages, page)
      this.loaded = true
      this.error = null
      void this.markSeen()
    } catch (e) {
      this.error = words(e)
    }
  }

  /** One page of older messages, before the oldest held. */
  async loadOlder() {
    const oldest = this.messages[0]
    if (this.complete || this.loadingOlder || !oldest) return
    this.loadingOlder = true
    try {
      const page = await this.api.imConversation(this.account, this.contact, { limit: CHAT_PAGE, before: oldest.id })
      this.complete = page.length < CHAT_PAGE
      this.messages = mergeMessages(this.messages, page)
    } catch (e) {
      this.error = words(e)
    } finally {
      this.loadingOlder = false
    }
  }

  /** Incoming messages shown here are read (not while the window is hidden: nobody saw them). */
  private async markSeen() {
    if (typeof document !== 'undefined' && document.visibilityState === 'hidden') return
    const unread = this.messages.filter((m) => m.direction === 'in' && !m.seen).map((m) => m.id)
    if (!unread.length) return
    this.messages = this.messages.map((m) => (unread.includes(m.id) ? { ...m, seen: true } : m))
    this.onread()
    await Promise.allSettled(unread.map((id) => this.api.setFlags(id, { seen: true })))
  }

  /** Sends; true when the server took it (the text box may be cleared). */
  async send(text: string): Promise<boolean> {
    const check = checkDraft(text)
    if (!check.ok) {
      this.sendError = check.problem
      return false
    }
    this.sending = true
    this.sendError = null
    try {
      const m = await this.api.imSend(this.account, this.contact, text)
      this.messages = mergeMessages(this.messages, [m])
      this.schedule(IN_FLIGHT_POLL_MS)
      return true
    } catch (e) {
      this.sendError = e instanceof ApiError ? explainSendError(e.status, e.detail) : words(e)
      return false
    } finally {
      this.sending = false
    }
  }

  private schedule(ms: number) {
    if (!this.running) return
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(async () => {
      this.timer = null
      await this.refresh()
      this.schedule(this.messages.some(inFlight) ? IN_FLIGHT_POLL_MS : CHAT_POLL_MS)
    }, ms)
  }

  start() {
    if (this.running) return
    this.running = true
    void this.refresh().then(() => this.schedule(CHAT_POLL_MS))
  }

  stop() {
    this.running = false
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}
