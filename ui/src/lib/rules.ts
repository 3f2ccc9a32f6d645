// Routing rules (GET/POST/PUT/DELETE /api/rules): the API's shapes, the edit form as rows of
// "kind + value" that become the API's tagged conditions and actions, their descriptions in
// words, and a rule prefilled from a message's sender or list.

import type { MessageView } from './types'

export type Condition = { if: string } & Record<string, unknown>
export type Action = { do: string } & Record<string, unknown>

export interface Rule {
  id: number
  name: string
  enabled: boolean
  profiles: string[]
  match_any: boolean
  conditions: Condition[]
  actions: Action[]
}

export interface TrialMatch {
  id: number
  from?: string | null
  subject: string
  date?: string | null
  now: Action[]
  with_rule: { actions: Action[]; default_applied?: boolean; stopped_by?: number | null }
}

export interface TrialOutcome {
  profile: string
  scanned: number
  matches: TrialMatch[]
  skipped: string[]
}

/** Each condition the API offers: its tag, the field holding its value, words, value kind. */
export const CONDITIONS = [
  { kind: 'sender', field: 'address', words: 'Sender is', input: 'text' },
  { kind: 'sender_domain', field: 'domain', words: 'Sender’s domain is', input: 'text' },
  { kind: 'sender_group', field: 'group', words: 'Sender is in group', input: 'text' },
  { kind: 'recipient', field: 'address', words: 'To or Cc includes', input: 'text' },
  { kind: 'subject', field: 'words', words: 'Subject has the words', input: 'text' },
  { kind: 'body', field: 'words', words: 'Body has the words', input: 'text' },
  { kind: 'list_id', field: 'list', words: 'Came through the list (* = any)', input: 'text' },
  { kind: 'account', field: 'account', words: 'Came through the account', input: 'text' },
  { kind: 'channel', field: 'channel', words: 'Came in as', input: ['mail', 'im'] },
  { kind: 'importance', field: 'level', words: 'Importance is', input: ['low', 'normal', 'high'] },
  { kind: 'attachment', field: 'present', words: 'Has an attachment', input: ['yes', 'no'] },
  { kind: 'size_at_least', field: 'bytes', words: 'Size at least (bytes)', input: 'number' },
  { kind: 'size_below', field: 'bytes', words: 'Size below (bytes)', input: 'number' },
] as const

export const ACTIONS = [
  { kind: 'deliver', field: 'urgency', words: 'Deliver to the profile’s channels', input: ['', 'low', 'normal', 'critical'] },
  { kind: 'notify', field: 'urgency', words: 'Notify on this desktop', input: ['normal', 'low', 'critical'] },
  { kind: 'forward_mail', field: 'to', words: 'Forward by mail to', input: 'text' },
  { kind: 'forward_im', field: 'to', words: 'Forward as an instant message to', input: 'text' },
  { kind: 'hold', field: null, words: 'Hold for the digest', input: null },
  { kind: 'mark_read', field: null, words: 'Mark read', input: null },
  { kind: 'label', field: 'label', words: 'Add the label', input: 'text' },
  { kind: 'stop', field: null, words: 'Stop (no later rule, no default)', input: null },
] as const

export type ConditionKind = (typeof CONDITIONS)[number]['kind']
export type ActionKind = (typeof ACTIONS)[number]['kind']

export interface Row<K extends string> {
  kind: K
  value: string
}

export interface RuleForm {
  id: number
  name: string
  enabled: boolean
  /** Profile names, comma-separated; empty: every profile. */
  profiles: string
  match_any: boolean
  conditions: Row<ConditionKind>[]
  actions: Row<ActionKind>[]
}

export function emptyRule(): RuleForm {
  return { id: 0, name: '', enabled: true, profiles: '', match_any: false, conditions: [], actions: [{ kind: 'deliver', value: '' }] }
}

function conditionSpec(kind: string) {
  return CONDITIONS.find((c) => c.kind === kind)
}
function actionSpec(kind: string) {
  return ACTIONS.find((a) => a.kind === kind)
}

/** What is wrong with the form (empty when it can be tried or saved). */
export function validateRule(f: RuleForm): string[] {
  const problems: string[] = []
  if (!f.name.trim()) problems.push('Give the rule a name')
  else if (f.name.trim().length > 64) problems.push('The name is longer than 64 characters')
  f.conditions.forEach((c, i) => {
    const spec = conditionSpec(c.kind)
    if (!spec) problems.push(`Condition ${i + 1}: unknown kind ${c.kind}`)
    else if (spec.input === 'number' && !/^\d{1,18}$/.test(c.value.trim())) problems.push(`Condition ${i + 1} (${spec.words}): a whole number of bytes`)
    else if (!c.value.trim()) problems.push(`Condition ${i + 1} (${spec.words}): say what`)
    else if ((c.kind === 'sender' || c.kind === 'recipient') && !/^[^\s@]+@[^\s@]+$/.test(c.value.trim()))
      problems.push(`Condition ${i + 1} (${spec.words}): “${c.value.trim()}” is not an address`)
  })
  if (f.actions.length === 0) problems.push('Add at least one action')
  f.actions.forEach((a, i) => {
    const spec = actionSpec(a.kind)
    if (!spec) problems.push(`Action ${i + 1}: unknown kind ${a.kind}`)
    else if (spec.input === 'text' && !a.value.trim()) problems.push(`Action ${i + 1} (${spec.words}): say what`)
  })
  return problems
}

/** The API's rule from the form (validate first). */
export function formToRule(f: RuleForm): Rule {
  const conditions = f.conditions.map((c): Condition => {
    const spec = conditionSpec(c.kind)!
    const v = c.value.trim()
    const value = spec.input === 'number' ? Number(v) : c.kind === 'attachment' ? v === 'yes' : v
    return { if: c.kind, [spec.field]: value }
  })
  const actions = f.actions.map((a): Action => {
    const spec = actionSpec(a.kind)!
    const v = a.value.trim()
    if (!spec.field || (a.kind === 'deliver' && !v)) return { do: a.kind }
    return { do: a.kind, [spec.field]: v }
  })
  return {
    id: f.id,
    name: f.name.trim(),
    enabled: f.enabled,
    profiles: f.profiles
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    match_any: f.match_any,
    conditions,
    actions,
  }
}

/** The form for editing a saved rule. */
export function ruleToForm(r: Rule): RuleForm {
  return {
    id: r.id,
    name: r.name,
    enabled: r.enabled,
    profiles: r.profiles.join(', '),
    match_any: r.match_any,
    conditions: r.conditions.map((c) => {
      const spec = conditionSpec(c.if)
      const raw = spec ? c[spec.field] : ''
      const value = typeof raw === 'boolean' ? (raw ? 'yes' : 'no') : String(raw ?? '')
      return { kind: c.if as ConditionKind, value }
    }),
    actions: r.actions.map((a) => {
      const spec = actionSpec(a.do)
      const raw = spec?.field ? a[spec.field] : ''
      return { kind: a.do as ActionKind, value: raw === undefined || raw === null ? '' : String(raw) }
    }),
  }
}

/** "Sender is dana@example.org", for lists. */
export function describeCondition(c: Condition): string {
  const spec = conditionSpec(c.if)
  if (!spec) return c.if
  const v = c[spec.field]
  return `${spec.words} ${typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v)}`
}

export function describeAction(a: Action): string {
  const spec = actionSpec(a.do)
  if (!spec) return a.do
  const v = spec.field ? a[spec.field] : undefined
  return v === undefined || v === null || v === '' ? spec.words : `${spec.words} ${String(v)}`
}

/** "When all of: …; then: …". */
export function describeRule(r: Rule): string {
  const when = r.conditions.length
    ? `${r.match_any ? 'When any of' : 'When'} ${r.conditions.map(describeCondition).join(r.match_any ? '; ' : ' and ')}`
    : 'Every message'
  return `${when}: ${r.actions.map(describeAction).join(', ')}`
}

/** A rule for mail from this message's sender, or from its mailing list. */
export function ruleFromMessage(m: MessageView, by: 'sender' | 'list'): RuleForm {
  const f = emptyRule()
  if (by === 'list' && m.list_id) {
    const list = m.list_id.replace(/^.*<([^>]+)>.*$/, '$1').trim()
    f.name = `List ${list}`.slice(0, 64)
    f.conditions = [{ kind: 'list_id', value: list }]
  } else {
    const address = m.from?.email ?? ''
    f.name = `From ${m.from?.name || address}`.slice(0, 64)
    f.conditions = [{ kind: 'sender', value: address }]
  }
  return f
}
