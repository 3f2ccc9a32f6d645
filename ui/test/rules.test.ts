import { describe, expect, it } from 'vitest'
import { Api } from '../src/lib/api'
import { keyAction } from '../src/lib/keys'
import { formatRoute, parseRoute } from '../src/lib/route'
import { describeRule, emptyRule, formToRule, ruleFromMessage, ruleToForm, validateRule, type Rule } from '../src/lib/rules'
import type { MessageView } from '../src/lib/types'
import { fakeFetch, summary } from './helpers'

const message: MessageView = {
  ...summary(3),
  from: { email: 'dana@example.org', name: 'Dana' },
  cc: [],
  reply_to: [],
  references: [],
  list_id: 'Dev list <dev.lists.example.org>',
  attachments: [],
  parse_problems: [],
  remote_blocked: 0,
}

describe('rule form', () => {
  it('becomes the API’s tagged conditions and actions', () => {
    const f = {
      ...emptyRule(),
      name: ' Dana ',
      profiles: 'Work, Home',
      conditions: [
        { kind: 'sender' as const, value: 'dana@example.org' },
        { kind: 'attachment' as const, value: 'no' },
        { kind: 'size_at_least' as const, value: '1000' },
      ],
      actions: [
        { kind: 'deliver' as const, value: '' },
        { kind: 'notify' as const, value: 'critical' },
        { kind: 'label' as const, value: 'dana' },
        { kind: 'stop' as const, value: '' },
      ],
    }
    expect(validateRule(f)).toEqual([])
    const r = formToRule(f)
    expect(r).toEqual({
      id: 0,
      name: 'Dana',
      enabled: true,
      profiles: ['Work', 'Home'],
      match_any: false,
      conditions: [
        { if: 'sender', address: 'dana@example.org' },
        { if: 'attachment', present: false },
        { if: 'size_at_least', bytes: 1000 },
      ],
      actions: [{ do: 'deliver' }, { do: 'notify', urgency: 'critical' }, { do: 'label', label: 'dana' }, { do: 'stop' }],
    })
    // And back again for editing.
    expect(formToRule(ruleToForm({ ...r, id: 4 }))).toEqual({ ...r, id: 4 })
  })

  it('names what is missing or wrong', () => {
    expect(validateRule({ ...emptyRule(), actions: [] })).toEqual(['Give the rule a name', 'Add at least one action'])
    const bad = validateRule({
      ...emptyRule(),
      name: 'x',
      conditions: [
        { kind: 'sender', value: 'not-an-address' },
        { kind: 'size_below', value: 'ten' },
        { kind: 'subject', value: ' ' },
      ],
      actions: [{ kind: 'forward_mail', value: '' }],
    })
    expect(bad).toEqual([
      'Condition 1 (Sender is): “not-an-address” is not an address',
      'Condition 2 (Size below (bytes)): a whole number of bytes',
      'Condition 3 (Subject has the words): say what',
      'Action 1 (Forward by mail to): say what',
    ])
  })

  it('prefills from a message’s sender or list', () => {
    const s = ruleFromMessage(message, 'sender')
    expect(s.name).toBe('From Dana')
    expect(s.conditions).toEqual([{ kind: 'sender', value: 'dana@example.org' }])
    expect(validateRule(s)).toEqual([])
    const l = ruleFromMessage(message, 'list')
    expect(l.conditions).toEqual([{ kind: 'list_id', value: 'dev.lists.example.org' }])
  })

  it('describes a rule in words', () => {
    const r: Rule = {
      id: 1,
      name: 'n',
      enabled: true,
      profiles: [],
      match_any: true,
      conditions: [
        { if: 'sender', address: 'a@example.org' },
        { if: 'subject', words: 'urgent' },
      ],
      actions: [{ do: 'forward_im', to: 'me@chat.example.org' }],
    }
    expect(describeRule(r)).toBe('When any of Sender is a@example.org; Subject has the words urgent: Forward as an instant message to me@chat.example.org')
    expect(describeRule({ ...r, conditions: [], actions: [{ do: 'hold' }] })).toBe('Every message: Hold for the digest')
  })
})

describe('rules API and navigation', () => {
  it('creates, replaces, moves, tries and deletes', async () => {
    const f = fakeFetch((method) => ({ status: method === 'DELETE' ? 204 : 200, body: method === 'DELETE' ? undefined : { id: 2 } }))
    const api = new Api(f.fn)
    const rule = formToRule({ ...emptyRule(), name: 'x' })
    await api.saveRule(rule)
    await api.saveRule({ ...rule, id: 2 })
    await api.moveRule(2, 1)
    await api.tryRule(rule)
    await api.deleteRule(2)
    expect(f.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/rules',
      'PUT /api/rules/2',
      'POST /api/rules/2/move',
      'POST /api/rules/try',
      'DELETE /api/rules/2',
    ])
    expect(f.calls[2].body).toEqual({ position: 1 })
    expect(f.calls[3].body).toEqual({ rule, limit: 500 })
  })

  it('has a route and a key', () => {
    expect(parseRoute('#rules')).toEqual({ view: 'rules', message: null })
    expect(formatRoute({ view: 'rules', message: null })).toBe('#rules')
    expect(keyAction({ key: 'r' }, false, true)).toBe('go-rules')
  })
})
