// Instant messaging as the window shows it: the chat list (conversations merged with the
// roster), presence in words, delivery states, the composer's checks and the server's refusals
// in plain words. Pure functions; chats.svelte.ts holds the reactive state.

import type { ImContact, ImConversation, ImMessage, ImState } from './types'

/** The server's limit on one message, in characters (Unicode scalar values, as it counts). */
export const MAX_IM_CHARS = 16 * 1024
/** From this many characters on, the composer shows how many are left. */
export const SHOW_COUNT_FROM = MAX_IM_CHARS - 1000

/** One line of the chat list: a conversation, or a contact not written with yet. */
export interface ChatEntry {
  key: string
  account: string
  contact: string
  name: string | null
  presence: string
  status: string | null
  unread: number
  last: ImMessage | null
}

export function chatKey(account: string, contact: string): string {
  return `${account}/${contact}`
}

export function displayName(e: { name?: string | null; contact: string }): string {
  return e.name?.trim() || e.contact
}

/** Newest message first (ties: the later message id, as the server orders them). */
export function compareConversations(a: { last: ImMessage }, b: { last: ImMessage }): number {
  return b.last.at_ms - a.last.at_ms || b.last.id - a.last.id
}

const PRESENCE_RANK: Record<string, number> = { chat: 0, available: 0, away: 1, xa: 2, dnd: 3 }

/**
 * Conversations, newest first, then the contacts with no conversation yet (those online
 * first, then by name), so a chat can be started with anyone in the roster. The roster's
 * presence is the fresher one when both have it.
 */
export function buildChatList(conversations: ImConversation[], contacts: ImContact[]): ChatEntry[] {
  const byKey = new Map<string, ImContact>()
  for (const c of contacts) byKey.set(chatKey(c.account, c.jid), c)
  const seen = new Set<string>()
  const out: ChatEntry[] = []
  for (const c of [...conversations].sort(compareConversations)) {
    const key = chatKey(c.account, c.contact)
    if (seen.has(key)) continue
    seen.add(key)
    const roster = byKey.get(key)
    out.push({
      key,
      account: c.account,
      contact: c.contact,
      name: roster?.name ?? c.name ?? null,
      presence: roster?.presence ?? c.presence,
      status: roster ? (roster.status ?? null) : (c.status ?? null),
      unread: c.unread,
      last: c.last,
    })
  }
  const rest = contacts
    .filter((c) => !seen.has(chatKey(c.account, c.jid)))
    .map((c) => ({
      key: chatKey(c.account, c.jid),
      account: c.account,
      contact: c.jid,
      name: c.name ?? null,
      presence: c.presence,
      status: c.status ?? null,
      unread: 0,
      last: null,
    }))
    .sort(
      (a, b) =>
        (PRESENCE_RANK[a.presence] ?? 9) - (PRESENCE_RANK[b.presence] ?? 9) ||
        displayName(a).localeCompare(displayName(b)) ||
        a.account.localeCompare(b.account),
    )
  for (const r of rest) {
    if (seen.has(r.key)) continue
    seen.add(r.key)
    out.push(r)
  }
  return out
}

/** The presence dot's kind (its colour). */
export function presenceKind(presence: string): 'online' | 'away' | 'busy' | 'offline' {
  switch (presence) {
    case 'available':
    case 'chat':
      return 'online'
    case 'away':
    case 'xa':
      return 'away'
    case 'dnd':
      return 'busy'
    default:
      return 'offline'
  }
}

/** Presence in words (what a screen reader says next to the dot), with the contact's status. */
export function presenceText(presence: string, status?: string | null): string {
  const word =
    {
      available: 'Online',
      chat: 'Online, free to chat',
      away: 'Away',
      xa: 'Away for a while',
      dnd: 'Busy, do not disturb',
      offline: 'Offline',
    }[presence] ?? 'Offline'
  const s = status?.trim()
  return s ? `${word}: ${s}` : word
}

/** What became of a message this person sent; empty for received ones. */
export function receiptText(state: ImState, detail?: string | null): string {
  switch (state) {
    case 'queued':
      return 'Sending…'
    case 'sent':
      return 'Sent'
    case 'acked':
      return 'Sent to the server'
    case 'delivered':
      return 'Delivered'
    case 'failed':
      return detail ? `Not delivered: ${detail}` : 'Not delivered'
    default:
      return ''
  }
}

/** Still on its way: the view looks again soon. */
export function inFlight(m: ImMessage): boolean {
  return m.direction === 'out' && (m.state === 'queued' || m.state === 'sent')
}

/**
 * Messages of one conversation, oldest first, without duplicates: `fresh` (a newer answer)
 * replaces what is held with the same id.
 */
export function mergeMessages(held: ImMessage[], fresh: ImMessage[]): ImMessage[] {
  const byId = new Map<number, ImMessage>()
  for (const m of held) byId.set(m.id, m)
  for (const m of fresh) byId.set(m.id, m)
  return [...byId.values()].sort((a, b) => a.at_ms - b.at_ms || a.id - b.id)
}

export interface DraftCheck {
  /** It can be sent. */
  ok: boolean
  /** Characters as the server counts them. */
  length: number
  /** Why it cannot be sent, in words; null when it can, or when it is simply empty. */
  problem: string | null
  /** "120 characters left" near the limit, null far from it. */
  counter: string | null
}

/** The composer's check, the same the server makes (more than spaces, at most 16,384). */
export function checkDraft(text: string): DraftCheck {
  let length = 0
  let blank = true
  for (const ch of text) {
    length++
    if (blank && (ch.codePointAt(0) ?? 0) > 0x20) blank = false
  }
  const counter =
    length >= SHOW_COUNT_FROM
      ? length > MAX_IM_CHARS
        ? `${(length - MAX_IM_CHARS).toLocaleString('en-US')} characters over the limit`
        : `${(MAX_IM_CHARS - length).toLocaleString('en-US')} characters left`
      : null
  if (blank) return { ok: false, length, problem: null, counter }
  if (length > MAX_IM_CHARS)
    return {
      ok: false,
      length,
      problem: `Too long to send: ${length.toLocaleString('en-US')} characters, at most ${MAX_IM_CHARS.toLocaleString('en-US')}. Shorten it or split it.`,
      counter,
    }
  return { ok: true, length, problem: null, counter }
}

/** A refused send (status and the server's sentence) in plain words. */
export function explainSendError(status: number, detail: string): string {
  switch (status) {
    case 0:
      return `Not sent: the Switchboard server did not answer. ${detail}`
    case 400:
      return `Not sent: ${detail}.`
    case 404:
      return `Not sent: no such chat account or address (${detail}).`
    case 409:
      return `Not sent: ${detail}. Add an XMPP account in Settings.`
    case 502:
      return `Not sent: the chat server refused it (${detail}).`
    default:
      return `Not sent (${status}): ${detail}`
  }
}

/** The line under a chat in the list: the last message, yours prefixed. */
export function lastLine(m: ImMessage | null): string {
  if (!m) return 'No messages yet'
  const text = m.body.replace(/\s+/g, ' ').trim()
  return m.direction === 'out' ? `You: ${text}` : text
}

/**
 * Where an inbox message of the IM channel belongs: its account and contact. `ownAddress`
 * gives the account's own address (its JID): a message from it went out, so the contact is
 * the recipient; otherwise the sender is the contact.
 */
export function conversationOf(
  m: {
    channel?: string
    from?: { email: string } | null
    to: { email: string }[]
    sources: { account: string; kind: string }[]
  },
  ownAddress: (account: string) => string | null,
): { account: string; contact: string } | null {
  if (m.channel !== 'im') return null
  const source = m.sources.find((s) => s.kind === 'xmpp') ?? m.sources[0]
  if (!source) return null
  const own = ownAddress(source.account)?.toLowerCase() ?? null
  const from = m.from?.email ?? ''
  const to = m.to[0]?.email ?? ''
  const contact = own !== null && from.toLowerCase() === own ? to : from || to
  return contact ? { account: source.account, contact } : null
}

/** An XMPP account's settings in one line, for the account list. */
export function describeChatAccount(a: { username: string; host: string; port: number; tls: string; trust_cert?: string | null }): string {
  const server = a.host ? `${a.host}:${a.port}` : 'server found by DNS'
  const security = a.tls === 'implicit' ? 'direct TLS' : 'STARTTLS'
  return `XMPP · ${a.username} · ${server} · ${security}${a.trust_cert ? ' · pinned certificate' : ''}`
}

/** An XMPP account's connection state in words. */
export function describeChatState(state: string, detail?: string | null): string {
  switch (state) {
    case 'new':
      return 'Not connected yet'
    case 'ok':
      return detail?.startsWith('online') ? `Online${detail.slice('online'.length)}` : detail ? `Connected: ${detail}` : 'Connected'
    case 'syncing':
      return detail ? `Connecting: ${detail}` : 'Connecting…'
    case 'auth_failed':
      return `Login refused${detail ? `: ${detail}` : ''}`
    case 'tls_error':
      return `Certificate problem${detail ? `: ${detail}` : ''}`
    case 'unreachable':
      return `Unreachable${detail ? `: ${detail}` : ''}`
    default:
      return detail ? `Error: ${detail}` : state
  }
}

// ---- chat states ("typing", XEP-0085) ----------------------------------------------------------

/** A contact's "composing" older than this no longer shows (XEP-0085: paused after 30 s). */
export const TYPING_SHOWN_MS = 30_000
/** "Composing" is said again after this long of continued typing. */
export const COMPOSING_AGAIN_MS = 15_000
/** No keystroke for this long: "paused". */
export const PAUSED_AFTER_MS = 5_000

/** Whether to show that the contact is typing: composing, recent, and newer than their last
 * message (a message ends the typing even when the client says nothing more). */
export function isTyping(cs: { state: string; at_ms: number } | undefined, lastIncomingAt: number | null, now: number): boolean {
  if (!cs || cs.state !== 'composing') return false
  if (now - cs.at_ms > TYPING_SHOWN_MS) return false
  return lastIncomingAt === null || cs.at_ms > lastIncomingAt
}

export type OwnChatState = 'active' | 'composing' | 'paused'

export interface ChatStateTimers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

/**
 * Decides when to tell the contact what this person is doing: "composing" at the first
 * keystroke (and again every 15 s of typing), "paused" after 5 s without one, "active" when
 * the text is emptied or the view closes mid-draft. A sent message says "active" by itself.
 */
export class TypingNotifier {
  private state: OwnChatState = 'active'
  private lastComposing = -Infinity
  private timer: unknown = null

  constructor(
    private readonly send: (state: OwnChatState) => void,
    private readonly timers: ChatStateTimers,
    private readonly now: () => number = () => Date.now(),
  ) {}

  private say(state: OwnChatState) {
    this.state = state
    this.send(state)
  }

  private clearTimer() {
    if (this.timer !== null) this.timers.clear(this.timer)
    this.timer = null
  }

  /** The draft changed to `text`. */
  input(text: string) {
    this.clearTimer()
    if (text.trim() === '') {
      if (this.state !== 'active') this.say('active')
      return
    }
    const t = this.now()
    if (this.state !== 'composing' || t - this.lastComposing >= COMPOSING_AGAIN_MS) {
      this.lastComposing = t
      this.say('composing')
    }
    this.timer = this.timers.set(() => {
      this.timer = null
      if (this.state === 'composing') this.say('paused')
    }, PAUSED_AFTER_MS)
  }

  /** A message went out: that says "active". */
  sent() {
    this.clearTimer()
    this.state = 'active'
  }

  /** The view closes. */
  stop() {
    this.clearTimer()
    if (this.state !== 'active') this.say('active')
  }
}
