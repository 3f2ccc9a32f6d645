// Editing a routing profile's channels, default action and urgency (PUT /api/profiles/{name}):
// the form keeps the rest of the profile (notify, hold, policy) as the server sent it.

export type ChannelTarget = { kind: 'desktop' } | { kind: 'mail'; address: string } | { kind: 'im'; address: string }

export interface FullProfile {
  name: string
  channels: ChannelTarget[]
  default_action: 'deliver' | 'hold' | 'quiet'
  urgency: 'low' | 'normal' | 'critical'
  [other: string]: unknown
}

export interface ProfileForm {
  name: string
  desktop: boolean
  /** Addresses, comma-separated. */
  mail: string
  im: string
  default_action: FullProfile['default_action']
  urgency: FullProfile['urgency']
}

function addresses(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

export function profileToForm(p: FullProfile): ProfileForm {
  const of = (kind: 'mail' | 'im') =>
    p.channels
      .filter((c): c is { kind: 'mail' | 'im'; address: string } => c.kind === kind)
      .map((c) => c.address)
      .join(', ')
  return {
    name: p.name,
    desktop: p.channels.some((c) => c.kind === 'desktop'),
    mail: of('mail'),
    im: of('im'),
    default_action: p.default_action,
    urgency: p.urgency,
  }
}

/** What is wrong with the form (empty: it can be saved). */
export function validateProfile(f: ProfileForm): string[] {
  const problems: string[] = []
  if (!f.name.trim()) problems.push('Give the profile a name')
  else if (f.name.trim().length > 64) problems.push('The name is longer than 64 characters')
  for (const [field, words] of [
    ['mail', 'Forward by mail to'],
    ['im', 'Forward as IM to'],
  ] as const) {
    const bad = addresses(f[field]).find((a) => !/^[^\s@]+@[^\s@]+$/.test(a))
    if (bad) problems.push(`${words}: “${bad}” is not an address`)
  }
  return problems
}

/** The profile to PUT: the original with the form's channels, default action and urgency. */
export function applyProfileForm(original: FullProfile, f: ProfileForm): FullProfile {
  const channels: ChannelTarget[] = []
  if (f.desktop) channels.push({ kind: 'desktop' })
  for (const address of addresses(f.mail)) channels.push({ kind: 'mail', address })
  for (const address of addresses(f.im)) channels.push({ kind: 'im', address })
  return { ...original, name: f.name.trim(), channels, default_action: f.default_action, urgency: f.urgency }
}
