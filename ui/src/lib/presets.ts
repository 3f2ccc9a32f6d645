// Server settings of common providers, so adding an account is usually an address and a password.

import type { AccountKind, TlsMode } from './types'

export interface ServerPreset {
  host: string
  port: number
  tls: TlsMode
}

export interface ProviderPreset {
  id: string
  label: string
  domains: string[]
  imap?: ServerPreset
  pop3?: ServerPreset
  /** What the person must know, e.g. that an app password is needed. */
  note?: string
}

export const PROVIDERS: ProviderPreset[] = [
  {
    id: 'gmail',
    label: 'Gmail',
    domains: ['gmail.com', 'googlemail.com'],
    imap: { host: 'imap.gmail.com', port: 993, tls: 'implicit' },
    pop3: { host: 'pop.gmail.com', port: 995, tls: 'implicit' },
    note: 'Gmail needs an app password (Google account → Security → App passwords).',
  },
  {
    id: 'outlook',
    label: 'Outlook.com / Microsoft 365',
    domains: ['outlook.com', 'hotmail.com', 'live.com', 'msn.com'],
    imap: { host: 'outlook.office365.com', port: 993, tls: 'implicit' },
    pop3: { host: 'outlook.office365.com', port: 995, tls: 'implicit' },
  },
  {
    id: 'yahoo',
    label: 'Yahoo Mail',
    domains: ['yahoo.com', 'ymail.com'],
    imap: { host: 'imap.mail.yahoo.com', port: 993, tls: 'implicit' },
    pop3: { host: 'pop.mail.yahoo.com', port: 995, tls: 'implicit' },
    note: 'Yahoo needs an app password.',
  },
  {
    id: 'icloud',
    label: 'iCloud Mail',
    domains: ['icloud.com', 'me.com', 'mac.com'],
    imap: { host: 'imap.mail.me.com', port: 993, tls: 'implicit' },
    note: 'iCloud needs an app-specific password; it has no POP3.',
  },
  {
    id: 'fastmail',
    label: 'Fastmail',
    domains: ['fastmail.com', 'fastmail.fm'],
    imap: { host: 'imap.fastmail.com', port: 993, tls: 'implicit' },
    pop3: { host: 'pop.fastmail.com', port: 995, tls: 'implicit' },
  },
  {
    id: 'gmx',
    label: 'GMX',
    domains: ['gmx.net', 'gmx.de', 'gmx.com'],
    imap: { host: 'imap.gmx.net', port: 993, tls: 'implicit' },
    pop3: { host: 'pop.gmx.net', port: 995, tls: 'implicit' },
  },
  {
    id: 'mailbox',
    label: 'mailbox.org',
    domains: ['mailbox.org'],
    imap: { host: 'imap.mailbox.org', port: 993, tls: 'implicit' },
    pop3: { host: 'pop3.mailbox.org', port: 995, tls: 'implicit' },
  },
  {
    id: 'posteo',
    label: 'Posteo',
    domains: ['posteo.de', 'posteo.net'],
    imap: { host: 'posteo.de', port: 993, tls: 'implicit' },
    pop3: { host: 'posteo.de', port: 995, tls: 'implicit' },
  },
]

export function providerById(id: string): ProviderPreset | undefined {
  return PROVIDERS.find((p) => p.id === id)
}

/** The provider an address belongs to, by its domain. */
export function providerForAddress(address: string): ProviderPreset | undefined {
  const at = address.lastIndexOf('@')
  if (at < 0) return undefined
  const domain = address.slice(at + 1).trim().toLowerCase()
  return PROVIDERS.find((p) => p.domains.includes(domain))
}

export function defaultPort(kind: AccountKind, tls: TlsMode): number {
  if (kind === 'imap') return tls === 'implicit' ? 993 : 143
  // XMPP: 5222 with STARTTLS (RFC 6120), 5223 for direct TLS (XEP-0368).
  if (kind === 'xmpp') return tls === 'implicit' ? 5223 : 5222
  return tls === 'implicit' ? 995 : 110
}

/** Server settings for a provider and protocol, if it offers that protocol. */
export function serverFor(p: ProviderPreset, kind: AccountKind): ServerPreset | undefined {
  return kind === 'imap' ? p.imap : kind === 'pop3' ? p.pop3 : undefined
}
