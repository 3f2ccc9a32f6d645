// Shapes of the embedded server's JSON API (see /api/openapi.json).

export interface Address {
  email: string
  name?: string | null
}

export interface SourceView {
  account: string
  kind: string
  mailbox?: string | null
  remote_id: string
  state: string
  delete_pending: boolean
}

export interface MessageSummary {
  id: number
  message_id: string
  subject: string
  from?: Address | null
  to: Address[]
  date?: string | null
  date_unix: number
  size: number
  flags: string[]
  has_attachments: boolean
  /** `mail` or `im`, when the server tells. */
  channel?: string
  sources: SourceView[]
}

export interface AttachmentMeta {
  index: number
  content_type: string
  filename?: string | null
  size: number
  inline: boolean
  content_id?: string | null
}

export interface MessageView extends MessageSummary {
  cc: Address[]
  reply_to: Address[]
  in_reply_to?: string | null
  references: string[]
  list_id?: string | null
  text_body?: string | null
  html_body?: string | null
  attachments: AttachmentMeta[]
  parse_problems: string[]
  remote_blocked: number
}

export interface MessagePage {
  messages: MessageSummary[]
  next_cursor?: string | null
}

export interface AccountState {
  state: string
  detail?: string | null
  at?: number | null
}

export type AccountKind = 'imap' | 'pop3' | 'xmpp'
export type TlsMode = 'implicit' | 'starttls'

export interface Account {
  id: number
  name: string
  kind: AccountKind
  host: string
  port: number
  tls: TlsMode
  username: string
  mailboxes: string[]
  policy: string
  trust_cert?: string | null
  created_at: number
  last_sync_at?: number | null
  owner?: string | null
  state: AccountState
}

export interface NewAccount {
  kind: AccountKind
  name: string
  /** Required for imap and pop3; for xmpp left out to find the server by DNS SRV. */
  host?: string
  port?: number
  tls?: TlsMode
  username: string
  password: string
  trust_cert?: string
  mailboxes?: string[]
  policy?: string
  test?: boolean
}

export interface AccountPatch {
  host?: string
  port?: number
  tls?: TlsMode
  username?: string
  password?: string
  policy?: string
  trust_cert?: string | null
  mailboxes?: string[]
}

export interface AccountTestFailure {
  error: string
  detail: string
  fingerprint?: string | null
}

export interface SyncStateEntry {
  account: string
  state: string
  detail?: string | null
  at?: number | null
  last_sync_at?: number | null
}

export interface ChangedMessage {
  id: number
  size: number
  subject: string
  from?: string | null
  date?: string | null
}

export interface Changes {
  seq: number
  more: boolean
  resync: boolean
  added: ChangedMessage[]
  updated: ChangedMessage[]
  removed: number[]
}

export interface Profile {
  name: string
  active: boolean
  label?: string
  /** Why this one is active (manual, scheduled…), in words. */
  why?: string
}

// ---- instant messages (/api/im/*) ----------------------------------------------------------

/** `queued → sent → acked` (the server has it) `→ delivered` (XEP-0184 receipt), or `failed`;
 * incoming ones are `received`. */
export type ImState = 'received' | 'queued' | 'sent' | 'acked' | 'delivered' | 'failed'

export interface ImMessage {
  /** The message id in the store (`/api/messages/{id}`). */
  id: number
  account: string
  contact: string
  direction: 'in' | 'out'
  body: string
  date: string
  at_ms: number
  state: ImState
  state_detail?: string | null
  origin_id?: string | null
  stanza_id?: string | null
  thread?: string | null
  seen: boolean
}

export interface ImConversation {
  account: string
  contact: string
  name?: string | null
  /** offline | available | chat | away | xa | dnd */
  presence: string
  status?: string | null
  messages: number
  unread: number
  last: ImMessage
}

export interface ImContact {
  account: string
  jid: string
  name?: string | null
  subscription: string
  presence: string
  status?: string | null
  presence_at?: number | null
}

/** A contact's last chat state (XEP-0085). */
export interface ImChatState {
  account: string
  contact: string
  /** active | composing | paused | inactive | gone */
  state: string
  at_ms: number
}
