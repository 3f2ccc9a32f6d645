import { describe, expect, it } from 'vitest'
import { Api } from '../src/lib/api'
import { applyProfileForm, profileToForm, validateProfile, type FullProfile } from '../src/lib/profileForm'
import { fakeFetch } from './helpers'

const work: FullProfile = {
  name: 'Work',
  channels: [{ kind: 'desktop' }, { kind: 'mail', address: 'me@work.example.org' }],
  default_action: 'deliver',
  urgency: 'normal',
  notify: { max_per_minute: 5 },
  hold: { release_at: '18:00' },
}

describe('profile form', () => {
  it('reads channels into fields and writes them back, keeping the rest', () => {
    const f = profileToForm(work)
    expect(f).toEqual({ name: 'Work', desktop: true, mail: 'me@work.example.org', im: '', default_action: 'deliver', urgency: 'normal' })
    const edited = applyProfileForm(work, { ...f, desktop: false, im: 'me@chat.example.org', default_action: 'hold', urgency: 'critical' })
    expect(edited).toEqual({
      ...work,
      channels: [
        { kind: 'mail', address: 'me@work.example.org' },
        { kind: 'im', address: 'me@chat.example.org' },
      ],
      default_action: 'hold',
      urgency: 'critical',
    })
    expect(edited.notify).toEqual({ max_per_minute: 5 })
  })

  it('names bad input', () => {
    expect(validateProfile({ ...profileToForm(work), name: ' ', mail: 'a@b.org, nope' })).toEqual([
      'Give the profile a name',
      'Forward by mail to: “nope” is not an address',
    ])
    expect(validateProfile(profileToForm(work))).toEqual([])
  })

  it('saves under the old name (a new name renames)', async () => {
    const f = fakeFetch(() => ({ status: 200, body: work }))
    await new Api(f.fn).saveProfile('Old Name', work)
    expect(f.calls[0]).toMatchObject({ method: 'PUT', url: '/api/profiles/Old%20Name', body: work })
  })
})
