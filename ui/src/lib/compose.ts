// Writing mail: the compose form as pure data, what it becomes as an API request, the
// prefill of a reply or forward, and the server's refusals in plain words.

import type { Address, MessageView } from './types'

export type ComposeMode = 'new' | 'reply' | 'reply-all' | 'forward'

export interface ComposeForm {
  mode: ComposeMode
  /** The original (reply, forward). */
  original: number | null
  /** The account to send from ('' = the server's default). */
  account: string
  /** Comma- or line-separated recipients, as typed. */
  to: string
  cc: string
  subject: string
  body: string
  /** Who a reply goes to without asking (the server adds them), for showing only. */
  replyingTo: string[]
}

export interface ComposeRequest {
  path: string
  body: Record<string, unknown>
}

// The same conservative address the API documents: address@example.org or Name <address@…>.
const ADDRESS = /^[A-Za-z0-9_+-]{1,32}(\.[A-Za-z0-9_+-]{1,16})?@[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?){0,3}$/
const NAME = /^[A-Za-z0-9][A-Za-z0-9 _-]{0,62}$/

export function emptyForm(account = ''): ComposeForm {
  return { mode: 'new', original: null, account, to: '', cc: '', subject: '', body: '', replyingTo: [] }
}

/** Splits what was typed into recipients (commas, semicolons or new lines between them). */
export function splitRecipients(text: string): string[] {
  return text
    .split(/[,;\n]/)
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter((s) => s.length > 0)
}

/** Whether the API accepts this recipient. */
export function isRecipient(r: string): boolean {
  const m = /^(.*) <([^<>]+)>$/.exec(r)
  if (m) return NAME.test(m[1]) && ADDRESS.test(m[2])
  return ADDRESS.test(r)
}

/** What is wrong with the form, field by field (empty when it can be sent). */
export function validate(f: ComposeForm): Partial<Record<'to' | 'cc' | 'subject', string>> {
  const errors: Partial<Record<'to' | 'cc' | 'subject', string>> = {}
  for (const field of ['to', 'cc'] as const) {
    const list = splitRecipients(f[field])
    const bad = list.find((r) => !isRecipient(r))
    if (bad) errors[field] = `“${bad}” is not an address (write name@example.org or Name <name@example.org>)`
    else if (list.length > 100) errors[field] = 'At most 100 recipients'
  }
  const needsTo = f.mode === 'new' || f.mode === 'forward'
  if (needsTo && !errors.to && splitRecipients(f.to).length === 0) errors.to = 'Say who it goes to'
  if (f.subject.length > 998) errors.subject = 'The subject is longer than 998 characters'
  return errors
}

/** The API request the form becomes (validate first). */
export function toRequest(f: ComposeForm): ComposeRequest {
  const body: Record<string, unknown> = {}
  if (f.account) body.account = f.account
  const to = splitRecipients(f.to)
  const cc = splitRecipients(f.cc)
  if (f.mode !== 'reply' && f.mode !== 'reply-all') body.to = to
  else if (to.length) body.to = to
  if (cc.length) body.cc = cc
  body.subject = f.subject
  body.body = f.body
  switch (f.mode) {
    case 'new':
      return { path: '/api/send', body }
    case 'reply':
    case 'reply-all':
      if (f.mode === 'reply-all') body.all = true
      return { path: `/api/messages/${f.original}/reply`, body }
    case 'forward':
      return { path: `/api/messages/${f.original}/forward`, body }
  }
}

function show(a: Address): string {
  return a.name ? `${a.name} <${a.email}>` : a.email
}

/** "Re: x" once, however many times it was answered before. */
export function prefixSubject(prefix: 'Re' | 'Fwd', subject: string): string {
  const re = prefix === 'Re' ? /^\s*re\s*:/i : /^\s*(fwd?|fw)\s*:/i
  return re.test(subject) ? subject.trim() : `${prefix}: ${subject.trim()}`.trim()
}

function quote(m: MessageView): string {
  const who = m.from ? show(m.from) : 'someone'
  const when = m.date_unix ? new Date(m.date_unix * 1000).toLocaleString() : ''
  const text = (m.text_body ?? '').replace(/\r\n/g, '\n').trimEnd()
  const quoted = text
    .split('\n')
    .map((l) => (l.startsWith('>') ? `>${l}` : `> ${l}`))
    .join('\n')
  return `\n\n${when ? `On ${when}, ` : ''}${who} wrote:\n${quoted}\n`
}

/**
 * A reply or forward of `m`, from the account it came through. `self` are this person's own
 * addresses (left out of "reply all", as the server does).
 */
export function prefill(mode: Exclude<ComposeMode, 'new'>, m: MessageView, self: string[] = []): ComposeForm {
  const account = m.sources[0]?.account ?? ''
  const mine = new Set(self.map((s) => s.toLowerCase()))
  if (mode === 'forward') {
    return {
      ...emptyForm(account),
      mode,
      original: m.id,
      subject: prefixSubject('Fwd', m.subject),
      body: '',
    }
  }
  const primary = (m.reply_to.length ? m.reply_to : m.from ? [m.from] : []).filter((a) => !mine.has(a.email.toLowerCase()))
  const seen = new Set(primary.map((a) => a.email.toLowerCase()))
  const others =
    mode === 'reply-all'
      ? [...m.to, ...m.cc].filter((a) => {
          const k = a.email.toLowerCase()
          if (mine.has(k) || seen.has(k)) return false
          seen.add(k)
          return true
        })
      : []
  return {
    ...emptyForm(account),
    mode,
    original: m.id,
    subject: prefixSubject('Re', m.subject),
    body: quote(m),
    replyingTo: [...primary, ...others].map(show),
  }
}

/** Whether closing would lose something the person wrote. */
export function hasText(f: ComposeForm, initial: ComposeForm): boolean {
  return f.to !== initial.to || f.cc !== initial.cc || f.subject !== initial.subject || f.body !== initial.body
}

export interface SendFailure {
  title: string
  advice: string
  detail: string
}

/** A refused send in plain words. */
export function explainSendError(status: number, detail: string, account: string): SendFailure {
  if (status === 409 && /outgoing server/.test(detail)) {
    const named = /account '([^']+)'/.exec(detail)?.[1] ?? account
    return {
      title: named ? `The account “${named}” has no outgoing server` : 'No account has an outgoing server',
      advice:
        'Mail goes out through an SMTP server, which is set per account. Set one with ' +
        `switchboard account smtp ${named || 'ACCOUNT'} --host HOST --user USER --password-stdin` +
        ' (or PUT /api/accounts/ACCOUNT/smtp), then send again; what you wrote stays here.',
      detail,
    }
  }
  if (status === 409 && /nobody to reply to/.test(detail))
    return { title: 'Nobody to reply to', advice: 'The original names nobody but you. Add someone in “Also to”.', detail }
  if (status === 404) return { title: 'Not found', advice: 'The account or the original message is gone.', detail }
  if (status === 400) return { title: 'The server refused the message', advice: 'Correct what it names below.', detail }
  if (status === 0) return { title: 'The Switchboard server did not answer', advice: 'Check that it runs, then send again.', detail }
  return { title: 'Sending failed', advice: 'The server said what is below.', detail }
}
