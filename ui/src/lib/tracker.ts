// The tracker's shapes (GET /api/messages/{id}/deliveries, /api/deliveries) and how a
// delivery's steps read: each with its time, what happened and the remote server's answer.

export interface DeliveryEvent {
  /** Unix milliseconds. */
  at: number
  state: string
  attempt?: number | null
  code?: number | null
  answer?: string | null
}

export interface Delivery {
  id: number
  message_id?: number | null
  outgoing_id?: number | null
  parent_id?: number | null
  release_id?: number | null
  channel: string
  target: string
  state: string
  attempts: number
  next_attempt_at?: number | null
  summary: string
  created_at: number
  updated_at: number
  events: DeliveryEvent[]
}

export interface MessageDeliveries {
  message_id: number
  route?: { state: string; reason?: string | null } | null
  deliveries: Delivery[]
}

/** What POST /api/send (reply, forward) answers. */
export interface Queued {
  outgoing_id: number
  delivery_id: number
  message_id: string
  account: string
  from: string
  recipients: string[]
  subject: string
}

export const DELIVERY_STATES = ['queued', 'sending', 'accepted', 'delivered', 'failed', 'rerouted', 'dead', 'held', 'released'] as const

const STEP_WORDS: Record<string, string> = {
  queued: 'Queued',
  sending: 'Sending',
  accepted: 'Accepted, waiting to be read',
  delivered: 'Delivered',
  failed: 'Failed',
  interrupted: 'Interrupted',
  retried: 'Retried',
  retry_requested: 'Retry asked for',
  rerouted: 'Rerouted',
  dead: 'Dead letter',
  held: 'Held for a digest',
  released: 'Released in a digest',
}

const CHANNEL_WORDS: Record<string, string> = {
  submit: 'Sent through',
  sent_copy: 'Copy filed in',
  mail: 'Forward by mail to',
  im: 'Instant message to',
  desktop: 'Desktop notification',
  hold: 'Held',
  digest: 'Digest to',
}

/** A state or step in words. */
export function stepWords(state: string): string {
  return STEP_WORDS[state] ?? state
}

/** "Sent through mail.example.org", "Desktop notification". */
export function describeDelivery(d: Pick<Delivery, 'channel' | 'target'>): string {
  const w = CHANNEL_WORDS[d.channel] ?? d.channel
  return d.target ? `${w} ${d.target}` : w
}

/** Whether nothing more will happen to it by itself. */
export function isFinal(state: string): boolean {
  return state === 'delivered' || state === 'dead' || state === 'rerouted' || state === 'released'
}

export interface Step {
  key: string
  time: string
  /** ISO time for <time datetime>. */
  iso: string
  what: string
  /** "250 OK queued as X", or nothing. */
  answer: string
  attempt: number | null
  bad: boolean
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** A step's time: hh:mm:ss today, else with the date (local time). */
export function stepTime(at: number, now = Date.now()): string {
  const d = new Date(at)
  const n = new Date(now)
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()
  return sameDay ? hms : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`
}

/** The delivery's steps, oldest first, ready to show. */
export function formatSteps(events: DeliveryEvent[], now = Date.now()): Step[] {
  return [...events]
    .sort((a, b) => a.at - b.at)
    .map((e, i) => ({
      key: `${i}-${e.at}-${e.state}`,
      time: stepTime(e.at, now),
      iso: new Date(e.at).toISOString(),
      what: stepWords(e.state),
      answer: [e.code ?? null, e.answer ?? ''].filter((x) => x !== null && x !== '').join(' '),
      attempt: e.attempt ?? null,
      bad: e.state === 'failed' || e.state === 'dead' || e.state === 'interrupted',
    }))
}

/** Why a dead letter died: the last step's answer. */
export function deathReason(d: Delivery): string {
  const last = [...d.events].sort((a, b) => b.at - a.at).find((e) => e.answer || e.code)
  if (!last) return 'No reason recorded'
  return [last.code ?? null, last.answer ?? ''].filter((x) => x !== null && x !== '').join(' ')
}
