// Writing mail, the tracker, dead letters and rules in a real Chromium against a real
// `switchboard serve`, Dovecot and an SMTP sink, driven by tests/tests/ui_route_e2e.rs. Lines
// starting with "@@ " on stdout ask the Rust side what the sink received; it answers one line
// on stdin: "ok …" or "fail …". Screenshots go to $SB_SHOTS.
import { createInterface } from 'node:readline'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { launch } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run this through tests/tests/ui_route_e2e.rs)`)
  return v
}
const LOGIN = env('SB_LOGIN_URL')
const SHOTS = env('SB_SHOTS')
const REFUSED = env('SB_REFUSED_RCPT')
mkdirSync(SHOTS, { recursive: true })

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
async function ask(command, arg = '') {
  process.stdout.write(`@@ ${command} ${arg}\n`)
  const { value, done } = await lines.next()
  if (done) throw new Error(`no answer to ${command}`)
  if (!value.startsWith('ok')) throw new Error(`${command} ${arg}: ${value}`)
  return value.slice(2).trim()
}

function step(name) {
  console.log(`step: ${name}`)
}

let shot = 0
async function screenshot(page, name) {
  shot++
  const file = join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`)
  await page.screenshot({ path: file })
  console.log(`screenshot: ${file}`)
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`)
}

async function openLunch(page) {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name: 'Inbox' }).click()
  const row = page.locator('[role=treeitem]', { hasText: 'Lunch on Friday' })
  await row.first().waitFor({ timeout: 60_000 })
  await row.first().click()
  const view = page.getByTestId('message-view')
  await view.getByRole('heading', { name: 'Lunch on Friday' }).waitFor()
  return view
}

async function main() {
  const { context, close } = await launch()
  const page = context.pages()[0] ?? (await context.newPage())
  const consoleErrors = []
  // Expected refusals: 404 is the probe for an account's outgoing server, 409 the send from
  // the account without one.
  const expected = /Failed to load resource: the server responded with a status of (404|409)/
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.test(m.text())) consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(String(e)))
  try {
    step('sign in; the message from Dana is in the inbox')
    await page.goto(LOGIN)
    check(new URL(page.url()).pathname === '/', `signed in and sent to / (at ${page.url()})`)
    await openLunch(page)
    await screenshot(page, 'message')

    step('new mail from the account without an outgoing server is refused in plain words')
    await page.locator('body').click({ position: { x: 5, y: 300 } })
    await page.keyboard.press('c')
    const compose = page.getByTestId('compose')
    await compose.waitFor()
    await compose.getByTestId('compose-from').selectOption('home')
    await compose.getByTestId('compose-to').fill('Dana <dana@example.org>')
    await compose.getByTestId('compose-subject').fill('From home')
    await compose.getByTestId('compose-body').fill('Hello from home.')
    await compose.getByTestId('compose-body').press('Control+Enter')
    const refused = compose.getByTestId('send-error')
    await refused.waitFor()
    const said = await refused.textContent()
    check(said.includes('The account “home” has no outgoing server'), `the refusal names the account (${said})`)
    check(said.includes('switchboard account smtp home'), `and says how to set one (${said})`)
    await screenshot(page, 'no-outgoing-server')

    step('Esc asks before discarding what was written')
    await compose.getByTestId('compose-body').press('Escape')
    await compose.getByTestId('discard').waitFor()
    await screenshot(page, 'discard-question')
    await compose.getByTestId('discard').click()
    await compose.waitFor({ state: 'detached' })

    step('an invalid address is named before anything is sent')
    await page.getByTestId('compose-new').click()
    await compose.getByTestId('compose-to').fill('not an address')
    await compose.getByTestId('compose-send').click()
    const fieldError = compose.locator('#compose-to-error')
    await fieldError.waitFor()
    check((await fieldError.textContent()).includes('“not an address” is not an address'), 'the field error names the entry')
    await compose.getByRole('button', { name: 'Close (Esc)' }).click()
    await compose.getByTestId('discard').click()

    step('reply with r: prefilled, sent with Ctrl+Enter, followed to delivered')
    await openLunch(page)
    await page.getByTestId('message-view').getByRole('heading', { name: 'Lunch on Friday' }).click()
    await page.keyboard.press('r')
    await compose.waitFor()
    check((await compose.getByTestId('replying-to').textContent()).includes('dana@example.org'), 'the reply goes to Dana')
    check((await compose.getByTestId('compose-subject').inputValue()) === 'Re: Lunch on Friday', 'Re: subject')
    check((await compose.getByTestId('compose-from').inputValue()) === 'work', 'from the account it came through')
    const quoted = await compose.getByTestId('compose-body').inputValue()
    check(quoted.includes('> Shall we?'), `the original is quoted (${quoted})`)
    await compose.getByTestId('compose-body').press('Control+Home')
    await compose.getByTestId('compose-body').pressSequentially('Yes, at noon.')
    await screenshot(page, 'reply')
    await compose.getByTestId('compose-body').press('Control+Enter')
    const state = compose.getByTestId('delivery-state')
    await page.waitForFunction(() => document.querySelector('[data-testid=delivery-state]')?.getAttribute('data-state') === 'delivered', null, {
      timeout: 60_000,
    })
    check((await state.textContent()).includes('Delivered'), 'the pane says delivered')
    await screenshot(page, 'reply-delivered')
    const received = JSON.parse(await ask('sink-reply'))
    check(received.in_reply_to === '<lunch@example.org>', `In-Reply-To at the sink: ${received.in_reply_to}`)
    check(received.body.includes('Yes, at noon.'), 'the body arrived')

    step('the tracker shows the sent reply delivered, step by step')
    await compose.getByTestId('open-tracker').click()
    check(/^#tracker\/delivery\/\d+$/.test(new URL(page.url()).hash), `the tracker's address (${page.url()})`)
    const delivery = page.getByTestId('delivery').first()
    await delivery.waitFor()
    await page.waitForFunction(() => document.querySelector('[data-testid=delivery]')?.getAttribute('data-state') === 'delivered', null, {
      timeout: 30_000,
    })
    const steps = await delivery.locator('li').allTextContents()
    check(steps.some((s) => s.includes('Queued')), `a queued step (${steps})`)
    check(steps.some((s) => s.includes('Delivered') && /250/.test(s)), `a delivered step with the server's answer (${steps})`)
    check((await delivery.locator('time').count()) === steps.length, 'every step has its time')
    await screenshot(page, 'tracker-delivered')

    step('mail the sink refuses becomes a dead letter with its reason, and Retry queues it again')
    await page.keyboard.press('c')
    await compose.waitFor()
    await compose.getByTestId('compose-from').selectOption('work')
    await compose.getByTestId('compose-to').fill(REFUSED)
    await compose.getByTestId('compose-subject').fill('To nobody')
    await compose.getByTestId('compose-body').fill('This one bounces.')
    await compose.getByTestId('compose-body').press('Control+Enter')
    await page.waitForFunction(
      () => ['dead', 'rerouted'].includes(document.querySelector('[data-testid=delivery-state]')?.getAttribute('data-state') ?? ''),
      null,
      { timeout: 60_000 },
    )
    await screenshot(page, 'refused-send')
    await compose.getByRole('button', { name: 'Close', exact: true }).click()
    await page.keyboard.press('g')
    await page.keyboard.press('t')
    const dead = page.getByTestId('dead-letters')
    const letter = dead.locator('li', { hasText: 'To nobody' })
    await letter.waitFor({ timeout: 30_000 })
    check((await letter.textContent()).includes('550'), `the reason is the server's answer (${await letter.textContent()})`)
    await screenshot(page, 'dead-letters')
    await letter.getByRole('button', { name: 'Retry' }).click()
    await dead.getByRole('status').waitFor()
    check((await dead.getByRole('status').textContent()).includes('queued again'), 'Retry says it is queued again')

    step('the message view opens its own deliveries in the tracker')
    await openLunch(page)
    await page.getByTestId('open-message-tracker').click()
    check(/^#tracker\/message\/\d+$/.test(new URL(page.url()).hash), `the tracker's address (${page.url()})`)
    await page.getByRole('heading', { name: /Deliveries of message/ }).waitFor()
    await screenshot(page, 'message-tracker')

    step('a rule from the sender is tried, saved and listed')
    await openLunch(page)
    await page.getByTestId('rule-from-sender').click()
    await page.getByRole('form', { name: 'New rule' }).waitFor()
    check((await page.getByTestId('rule-name').inputValue()) === 'From Dana', 'the rule is named after the sender')
    check((await page.getByLabel('Value of condition 1').inputValue()) === 'dana@example.org', 'the condition is the sender')
    await page.getByLabel('Action 1', { exact: true }).selectOption('label')
    await page.getByLabel('Value of action 1').fill('dana')
    await page.getByTestId('rule-try').click()
    await page.getByTestId('rule-trial').waitFor()
    const matched = Number(await page.getByTestId('rule-trial-count').textContent())
    check(matched >= 1, `the trial matches Dana's message (${matched})`)
    check((await page.getByTestId('rule-trial').textContent()).includes('Lunch on Friday'), 'the trial lists the message')
    await screenshot(page, 'rule-tried')
    await page.getByTestId('rule-save').click()
    const listed = page.getByTestId('rule-list').locator('li', { hasText: 'From Dana' })
    await listed.waitFor()
    check((await listed.textContent()).includes('Sender is dana@example.org'), 'the list says what it does')
    check(new URL(page.url()).hash === '#rules', `the rules' address (${page.url()})`)
    await screenshot(page, 'rule-saved')

    step('a profile’s default action is edited and saved')
    const workProfile = page.locator('section[aria-labelledby=profiles-title] li', { hasText: 'Work' }).first()
    await workProfile.getByRole('button', { name: 'Edit' }).click()
    const profileForm = page.getByRole('form', { name: 'Edit the profile Work' })
    await profileForm.getByLabel('When no rule decides').selectOption('quiet')
    await profileForm.getByRole('button', { name: 'Save' }).click()
    await page.getByText('Profile “Work” saved.').waitFor()
    const described = await page.locator('section[aria-labelledby=profiles-title] li', { hasText: 'Work' }).first().textContent()
    check(described.includes('keep quietly in the inbox'), `the saved profile reads back (${described})`)
    await screenshot(page, 'profile-saved')

    check(consoleErrors.length === 0, `no console errors: ${consoleErrors.join(' | ')}`)
    step('done: replied, tracked, dead letter retried, rule saved')
  } catch (e) {
    await screenshot(page, 'failure').catch(() => {})
    throw e
  } finally {
    await close()
  }
}

// stdin stays open (the Rust side's answers): leave explicitly.
main().then(
  () => process.exit(0),
  (e) => {
    console.error(e?.stack ?? String(e))
    process.exit(1)
  },
)
