// The one way the UI talks to the embedded server: its HTTP/JSON API. The session cookie
// (from /login?secret=…) rides along with every same-origin request; nothing is stored here.

import type {
  Account,
  AccountPatch,
  AccountTestFailure,
  Changes,
  ImChatState,
  ImContact,
  ImConversation,
  ImMessage,
  MessagePage,
  MessageSummary,
  MessageView,
  NewAccount,
  Profile,
  SyncStateEntry,
} from './types'
import type { ComposeRequest } from './compose'
import type { Rule, TrialOutcome } from './rules'
import type { FullProfile } from './profileForm'
import { DELIVERY_STATES, type Delivery, type MessageDeliveries, type Queued } from './tracker'

export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>

/** An answer that was not a success: the server's code and sentence, or what went wrong. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(detail)
    this.name = 'ApiError'
  }

  /** No session: the page was opened without signing in. */
  get signedOut(): boolean {
    return this.status === 401
  }
}

export interface ListOptions {
  cursor?: string | null
  limit?: number
  account?: string | null
  unread?: boolean
  flagged?: boolean
}

export type AddAccountResult =
  | { ok: true; account: Account }
  | { ok: false; failure: AccountTestFailure }

/** Query string from defined, non-empty, non-false values, in the given order. */
export function queryString(params: Record<string, string | number | boolean | null | undefined>): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
  }
  return parts.length ? `?${parts.join('&')}` : ''
}

export class Api {
  constructor(
    private readonly fetchFn: FetchFn = (i, init) => fetch(i, init),
    private readonly base = '',
  ) {}

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    let r: Response
    try {
      r = await this.fetchFn(this.base + path, {
        credentials: 'same-origin',
        ...init,
        headers: { Accept: 'application/json', ...(init.headers ?? {}) },
      })
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e
      throw new ApiError(0, 'unreachable', `The Switchboard server did not answer (${String(e)}).`)
    }
    return r
  }

  private async fail(r: Response): Promise<never> {
    let code = 'http_' + r.status
    let detail = `${r.status} ${r.statusText}`.trim()
    try {
      const body = await r.json()
      if (body && typeof body.detail === 'string') detail = body.detail
      if (body && typeof body.error === 'string') code = body.error
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(r.status, code, detail)
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const r = await this.request(path, init)
    if (!r.ok) return this.fail(r)
    return (await r.json()) as T
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    return this.request(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  }

  listMessages(o: ListOptions = {}, signal?: AbortSignal): Promise<MessagePage> {
    const q = queryString({
      limit: o.limit ?? 200,
      cursor: o.cursor,
      account: o.account,
      unread: o.unread,
      flagged: o.flagged,
    })
    return this.json(`/api/messages${q}`, { signal })
  }

  message(id: number, remote: 'allow' | 'block' = 'block', signal?: AbortSignal): Promise<MessageView> {
    return this.json(`/api/messages/${id}${remote === 'allow' ? '?remote=allow' : ''}`, { signal })
  }

  async raw(id: number): Promise<string> {
    const r = await this.request(`/api/messages/${id}/raw`, { headers: { Accept: 'message/rfc822' } })
    if (!r.ok) return this.fail(r)
    return r.text()
  }

  rawUrl(id: number): string {
    return `${this.base}/api/messages/${id}/raw`
  }

  attachmentUrl(id: number, index: number): string {
    return `${this.base}/api/messages/${id}/attachments/${index}`
  }

  async setFlags(id: number, flags: { seen?: boolean; flagged?: boolean }): Promise<string[]> {
    const r = await this.send('PATCH', `/api/messages/${id}`, flags)
    if (!r.ok) return this.fail(r)
    return ((await r.json()) as { flags: string[] }).flags
  }

  async deleteMessage(id: number, keepalive = false): Promise<void> {
    const r = await this.request(`/api/messages/${id}`, { method: 'DELETE', keepalive })
    // Already gone is what we wanted.
    if (!r.ok && r.status !== 404) return this.fail(r)
  }

  async search(text: string, limit = 200, signal?: AbortSignal): Promise<MessageSummary[]> {
    const q = queryString({ q: text, limit })
    const body = await this.json<{ messages: MessageSummary[] }>(`/api/search${q}`, { signal })
    return body.messages
  }

  accounts(): Promise<Account[]> {
    return this.json('/api/accounts')
  }

  /** Adds an account; the server logs in first and keeps nothing when that fails (422). */
  async addAccount(a: NewAccount): Promise<AddAccountResult> {
    const r = await this.send('POST', '/api/accounts', a)
    if (r.status === 422) return { ok: false, failure: (await r.json()) as AccountTestFailure }
    if (!r.ok) return this.fail(r)
    return { ok: true, account: (await r.json()) as Account }
  }

  async updateAccount(name: string, patch: AccountPatch): Promise<Account> {
    const r = await this.send('PATCH', `/api/accounts/${encodeURIComponent(name)}`, patch)
    if (!r.ok) return this.fail(r)
    return (await r.json()) as Account
  }

  async removeAccount(name: string): Promise<void> {
    const r = await this.send('DELETE', `/api/accounts/${encodeURIComponent(name)}`)
    if (!r.ok) return this.fail(r)
  }

  syncStatus(): Promise<SyncStateEntry[]> {
    return this.json('/api/sync')
  }

  async syncNow(): Promise<void> {
    const r = await this.send('POST', '/api/sync')
    if (!r.ok) return this.fail(r)
  }

  async index(): Promise<number> {
    return (await this.json<{ seq: number }>('/api/index')).seq
  }

  changes(since: number, limit = 500): Promise<Changes> {
    return this.json(`/api/changes${queryString({ since: String(since), limit })}`)
  }

  // ---- instant messages ----

  async imConversations(limit = 200): Promise<ImConversation[]> {
    return (await this.json<{ conversations: ImConversation[] }>(`/api/im/conversations${queryString({ limit })}`)).conversations
  }

  /** One conversation, newest first; `before` pages back (a message id). */
  async imConversation(account: string, contact: string, o: { limit?: number; before?: number | null } = {}): Promise<ImMessage[]> {
    const q = queryString({ limit: o.limit ?? 50, before: o.before })
    const path = `/api/im/conversations/${encodeURIComponent(account)}/${encodeURIComponent(contact)}${q}`
    return (await this.json<{ messages: ImMessage[] }>(path)).messages
  }

  async imContacts(): Promise<ImContact[]> {
    return (await this.json<{ contacts: ImContact[] }>('/api/im/contacts')).contacts
  }

  /** Puts an IM in the account's outbox (202); the running connection sends it at once. */
  async imSend(account: string, to: string, text: string): Promise<ImMessage> {
    const r = await this.send('POST', '/api/im/send', { account, to, text })
    if (!r.ok) return this.fail(r)
    return ((await r.json()) as { message: ImMessage }).message
  }

  /** Contacts' chat states of the last two minutes. */
  async imChatStates(): Promise<ImChatState[]> {
    return (await this.json<{ chat_states: ImChatState[] }>('/api/im/chat-states')).chat_states
  }

  /** Tells the contact what this person is doing; false when its client does not use chat states. */
  async imChatState(account: string, to: string, state: 'active' | 'composing' | 'paused'): Promise<boolean> {
    const r = await this.send('POST', '/api/im/chat-state', { account, to, state })
    if (!r.ok) return this.fail(r)
    return ((await r.json()) as { queued: boolean }).queued
  }

  // ---- sending and the tracker ----

  /** Sends new mail, a reply or a forward (202: queued; the tracker follows it). */
  async compose(req: ComposeRequest): Promise<Queued> {
    const r = await this.send('POST', req.path, req.body)
    if (!r.ok) return this.fail(r)
    return (await r.json()) as Queued
  }

  /** Whether the account has an outgoing server (null: unknown, e.g. a household member). */
  async hasSmtp(account: string): Promise<boolean | null> {
    const r = await this.request(`/api/accounts/${encodeURIComponent(account)}/smtp`)
    if (r.ok) return true
    if (r.status === 404) return false
    return null
  }

  messageDeliveries(id: number): Promise<MessageDeliveries> {
    return this.json(`/api/messages/${id}/deliveries`)
  }

  /** Deliveries in one state, newest first (dead letters by default). */
  deliveries(state: string = 'dead', limit = 100): Promise<Delivery[]> {
    return this.json(`/api/deliveries${queryString({ state, limit })}`)
  }

  /** One delivery by its id, looked for state by state (null: not visible). */
  async delivery(id: number): Promise<Delivery | null> {
    for (const state of DELIVERY_STATES) {
      const found = (await this.deliveries(state, 1000)).find((d) => d.id === id)
      if (found) return found
    }
    return null
  }

  /** Tries a dead or waiting delivery again; answers it with the others of its message. */
  async retryDelivery(id: number): Promise<Delivery[]> {
    const r = await this.send('POST', `/api/deliveries/${id}/retry`)
    if (!r.ok) return this.fail(r)
    return (await r.json()) as Delivery[]
  }

  // ---- routing rules ----

  rules(): Promise<Rule[]> {
    return this.json('/api/rules')
  }

  /** Saves a new rule (id 0) at the end, or replaces a saved one in its place. */
  async saveRule(rule: Rule): Promise<Rule> {
    const r = rule.id ? await this.send('PUT', `/api/rules/${rule.id}`, rule) : await this.send('POST', '/api/rules', rule)
    if (!r.ok) return this.fail(r)
    return (await r.json()) as Rule
  }

  async deleteRule(id: number): Promise<void> {
    const r = await this.send('DELETE', `/api/rules/${id}`)
    if (!r.ok && r.status !== 404) return this.fail(r)
  }

  /** Moves a rule to a position (1 = first); answers the rules in their new order. */
  async moveRule(id: number, position: number): Promise<Rule[]> {
    const r = await this.send('POST', `/api/rules/${id}/move`, { position })
    if (!r.ok) return this.fail(r)
    return (await r.json()) as Rule[]
  }

  /** Which of the newest messages the rule matches and what would happen to each. */
  async tryRule(rule: Rule, limit = 500): Promise<TrialOutcome> {
    const r = await this.send('POST', '/api/rules/try', { rule, limit })
    if (!r.ok) return this.fail(r)
    return (await r.json()) as TrialOutcome
  }

  /** Every profile with its channels and settings (for editing). */
  async fullProfiles(): Promise<FullProfile[]> {
    const body = await this.json<{ profiles?: FullProfile[] }>('/api/profiles')
    return Array.isArray(body.profiles) ? body.profiles : []
  }

  /** Replaces a profile (a new name renames it everywhere). */
  async saveProfile(name: string, p: FullProfile): Promise<FullProfile> {
    const r = await this.send('PUT', `/api/profiles/${encodeURIComponent(name)}`, p)
    if (!r.ok) return this.fail(r)
    return (await r.json()) as FullProfile
  }

  /** The profiles, or null when this server has no profiles API. */
  async profiles(): Promise<Profile[] | null> {
    const r = await this.request('/api/profiles')
    if (r.status === 404) return null
    if (!r.ok) return this.fail(r)
    return normalizeProfiles(await r.json())
  }

  /** Switches profile by hand (until the schedule's next change). */
  async activateProfile(name: string): Promise<void> {
    const r = await this.send('POST', '/api/profiles/active', { name })
    if (!r.ok) return this.fail(r)
  }
}

/**
 * Accepts `[{name, active}]`, or an overview `{profiles: [...], active: "name" | {name, ...},
 * why}` (the store's profiles overview).
 */
export function normalizeProfiles(body: unknown): Profile[] {
  const b = body as { profiles?: unknown; active?: unknown; why?: unknown }
  const list = Array.isArray(body) ? body : Array.isArray(b?.profiles) ? b.profiles : []
  const activeField = b?.active as { name?: unknown } | string | undefined
  const active =
    typeof activeField === 'string' ? activeField : typeof activeField?.name === 'string' ? activeField.name : null
  const why = typeof b?.why === 'string' ? b.why : undefined
  return (list as Record<string, unknown>[])
    .filter((p) => p && typeof p.name === 'string')
    .map((p) => {
      const isActive = p.active === true || p.name === active
      return {
        name: p.name as string,
        label: typeof p.label === 'string' ? p.label : undefined,
        active: isActive,
        why: isActive ? why : undefined,
      }
    })
}
