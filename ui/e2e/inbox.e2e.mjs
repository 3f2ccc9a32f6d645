// The inbox end to end in a real Chromium against a real `switchboard serve` and Dovecot,
// driven by tests/tests/ui_e2e.rs. Lines starting with "@@ " on stdout ask the Rust side to do
// something with the servers (deliver mail, check Dovecot); it answers one line on stdin:
// "ok …" or "fail …". Screenshots of every step go to $SB_SHOTS.
import { createInterface } from 'node:readline'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { launch } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run this through tests/tests/ui_e2e.rs)`)
  return v
}
const LOGIN = env('SB_LOGIN_URL')
const SHOTS = env('SB_SHOTS')
const IMAP_PORT = env('SB_IMAPS_PORT')
const POP3_PORT = env('SB_POP3S_PORT')
const CERT = env('SB_CERT_SHA256')
const IMAP_COUNT = Number(env('SB_IMAP_COUNT'))
const POP3_COUNT = Number(env('SB_POP3_COUNT'))
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

const colon = (fp) => fp.toUpperCase().match(/.{2}/g).join(':')

async function addAccount(page, { kind, name, port, user, password, policy }) {
  const form = page.getByRole('form', { name: 'Add an account' })
  await form.waitFor()
  await form.getByLabel(kind === 'imap' ? 'IMAP' : 'POP3', { exact: true }).check()
  await form.getByLabel('Account name').fill(name)
  await form.getByLabel('Server').fill('127.0.0.1')
  await form.getByLabel('Security').selectOption('implicit')
  await form.getByLabel('Port').fill(String(port))
  await form.getByLabel('User name').fill(user)
  await form.getByLabel('Password', { exact: true }).fill(password)
  await form.getByLabel('Sync policy').selectOption(policy)
  await form.getByRole('button', { name: 'Test connection and add' }).click()
  // The test Dovecot's certificate is self-signed: the form shows its fingerprint.
  const failure = page.getByTestId('account-failure')
  await failure.waitFor({ timeout: 30_000 })
  check((await failure.textContent()).includes('Certificate not trusted'), 'the failure names the certificate')
  const shown = (await page.getByTestId('fingerprint').textContent()).trim()
  check(shown === colon(CERT), `the fingerprint shown (${shown}) is the server's (${colon(CERT)})`)
  return failure
}

async function main() {
  const { context, close } = await launch()
  const page = context.pages()[0] ?? (await context.newPage())
  const consoleErrors = []
  // Expected refusals are not errors: 422 is a failed connection test, 404 the probe for a
  // profiles API on a server without one. Anything else the console reports is.
  const expected = /Failed to load resource: the server responded with a status of (404|422)/
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.test(m.text())) consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(String(e)))
  try {
    step('sign in with the launch secret')
    await page.goto(LOGIN)
    check(new URL(page.url()).pathname === '/', `signed in and sent to / (at ${page.url()})`)
    await page.getByTestId('empty-no-accounts').waitFor()
    await screenshot(page, 'empty-inbox')

    step('add the IMAP account, trusting the self-signed certificate')
    await page.getByRole('button', { name: 'Add an account' }).click()
    await addAccount(page, { kind: 'imap', name: 'work', port: IMAP_PORT, user: 'alice', password: 'alice-pass', policy: 'mirror' })
    await screenshot(page, 'untrusted-certificate')
    await page.getByRole('button', { name: 'Trust this certificate' }).click()
    await page.getByTestId('account-work').waitFor({ timeout: 30_000 })

    step('the progress bar shows while the first sync runs')
    await page.getByRole('button', { name: 'Back to the inbox' }).click()
    const bar = page.getByTestId('sync-work').locator('progress[value]')
    await bar.waitFor({ timeout: 60_000 })
    const max = Number(await bar.getAttribute('max'))
    check(max === IMAP_COUNT, `the progress bar counts to ${IMAP_COUNT} (max=${max})`)
    check((await page.getByTestId('sync-work').textContent()).includes(IMAP_COUNT.toLocaleString('en-US')), 'the count is shown')
    await screenshot(page, 'first-sync-progress')
    await page.getByTestId('sync-work').waitFor({ state: 'detached', timeout: 180_000 })
    await page.locator('[role=treeitem]').first().waitFor()
    await screenshot(page, 'inbox-filled')

    step('add the POP3 account')
    await page.getByRole('button', { name: 'Settings' }).click()
    await page.getByRole('button', { name: 'Add account' }).click()
    await addAccount(page, { kind: 'pop3', name: 'home', port: POP3_PORT, user: 'bob', password: 'bob-pass', policy: 'mirror' })
    await page.getByRole('button', { name: 'Trust this certificate' }).click()
    await page.getByTestId('account-home').waitFor({ timeout: 30_000 })
    await page.getByTestId('account-work').getByText('Up to date').waitFor({ timeout: 30_000 })
    await screenshot(page, 'accounts')
    await page.getByRole('button', { name: 'Back to the inbox' }).click()

    step('filter by the POP3 account')
    await page.getByLabel('Account', { exact: true }).selectOption('home')
    await page.waitForFunction((n) => document.querySelectorAll('[role=treeitem]').length === n, POP3_COUNT, { timeout: 60_000 })
    const badges = await page.locator('[role=treeitem] .badge').allTextContents()
    check(badges.every((b) => b === 'home'), `only home's messages are listed (${[...new Set(badges)]})`)
    await screenshot(page, 'filtered-by-account')
    await page.getByLabel('Account', { exact: true }).selectOption('')

    step('the list is virtualized')
    await page.waitForFunction(() => /messages/.test(document.querySelector('[data-testid=count]')?.textContent ?? ''))
    const rendered = await page.locator('[role=treeitem]').count()
    check(rendered > 10 && rendered < 120, `only the rows in view are in the DOM (${rendered})`)
    const tree = page.getByRole('tree', { name: 'Inbox' })
    check((await tree.getAttribute('aria-multiselectable')) === 'true', 'the list is a multi-select tree')

    step('open a message with blocked remote images, then load them')
    await page.getByTestId('search').fill('Newsletter with pictures')
    const hit = page.locator('[role=treeitem]', { hasText: 'Newsletter with pictures' })
    await hit.first().waitFor()
    await hit.first().click()
    const view = page.getByTestId('message-view')
    await view.getByRole('heading', { name: 'Newsletter with pictures' }).waitFor()
    await view.getByText('remote image was blocked').waitFor()
    check((await ask('image-requests')) === '0', 'no remote image was fetched before asking')
    const frame = page.frameLocator('[data-testid=message-body]')
    await frame.getByText('Look at this picture').waitFor()
    await screenshot(page, 'message-images-blocked')
    await page.getByTestId('load-images').click()
    await frame.locator('img').waitFor()
    await page.waitForFunction(() => true)
    const requests = Number(await ask('wait-image-request'))
    check(requests >= 1, 'the remote image was fetched after "load images"')
    const sandbox = await page.getByTestId('message-body').getAttribute('sandbox')
    check(!sandbox.includes('allow-scripts') && !sandbox.includes('allow-same-origin'), `the frame is sandboxed (${sandbox})`)
    await screenshot(page, 'message-images-loaded')

    step('attachments and source')
    await page.getByTestId('search').fill('Quarterly figures')
    const q = page.locator('[role=treeitem]', { hasText: 'Quarterly figures' })
    await q.first().waitFor()
    await screenshot(page, 'search-results')
    await q.first().click()
    await view.getByRole('heading', { name: 'Quarterly figures' }).waitFor()
    const attachment = view.getByRole('list', { name: 'Attachments' }).getByRole('link')
    check((await attachment.textContent()).includes('figures.csv'), 'the attachment is listed')
    const download = await Promise.all([page.waitForEvent('download'), attachment.click()]).then(([d]) => d)
    const path = await download.path()
    const { readFileSync } = await import('node:fs')
    check(readFileSync(path, 'utf8').includes('quarter,revenue'), 'the attachment downloads with its content')
    await view.getByRole('button', { name: 'Show source' }).click()
    await page.getByTestId('message-source').getByText('Message-ID: <quarterly@example.org>').waitFor()
    await screenshot(page, 'message-source')
    await view.getByRole('button', { name: 'Hide source' }).click()

    step('delete with undo, then delete for real')
    await view.getByRole('button', { name: 'Delete' }).click()
    await page.getByTestId('undo-toast').waitFor()
    check((await q.count()) === 0, 'the deleted message left the list at once')
    await screenshot(page, 'deleted-with-undo')
    await page.getByTestId('undo-toast').getByRole('button', { name: 'Undo' }).click()
    await q.first().waitFor()
    // Keyboard: the cursor is on it; e deletes.
    await q.first().click()
    await page.getByRole('tree').focus()
    await page.keyboard.press('e')
    await page.getByTestId('undo-toast').waitFor()
    await page.getByTestId('undo-toast').waitFor({ state: 'detached', timeout: 20_000 })
    await ask('gone-from-dovecot', '<quarterly@example.org>')

    step('keyboard: j/k, s flags, u marks unread, ? shows help')
    await page.getByTestId('search').fill('')
    await page.getByTestId('search').blur()
    await page.locator('[role=treeitem]').first().click()
    await page.keyboard.press('j')
    const second = page.locator('[role=treeitem].cursor')
    const id = await second.getAttribute('data-id')
    await page.keyboard.press('s')
    await page.locator(`[role=treeitem][data-id="${id}"] .flag.on`).waitFor()
    await page.keyboard.press('?')
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor()
    await screenshot(page, 'keyboard-help')
    await page.keyboard.press('Escape')
    await ask('flagged-in-dovecot', id)

    step('profiles')
    const profiles = page.getByTestId('profiles')
    if (await profiles.count()) {
      const other = profiles.locator('[role=radio][aria-checked=false]').first()
      const name = (await other.textContent()).trim()
      await other.click()
      await profiles.locator('[role=radio][aria-checked=true]', { hasText: name }).waitFor()
      const active = await ask('active-profile')
      check(active.toLowerCase() === name.toLowerCase(), `the server's active profile is ${name} (${active})`)
      await screenshot(page, 'profile-switched')
      console.log(`profile switched to ${name}`)
    } else {
      console.log('profiles: this server has no profiles API; the switcher is hidden')
    }

    step('a newly delivered message appears without a reload')
    await ask('deliver-live')
    await page.locator('[role=treeitem]', { hasText: 'Arrived while you watched' }).waitFor({ timeout: 60_000 })
    await screenshot(page, 'live-arrival')

    step('dark theme follows the system')
    await page.emulateMedia({ colorScheme: 'dark' })
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor)
    check(bg !== 'rgb(255, 255, 255)', `the dark theme applies (${bg})`)
    await screenshot(page, 'dark-theme')

    check(consoleErrors.length === 0, `no errors in the console: ${consoleErrors.join(' | ')}`)
    console.log('ui e2e: all steps passed')
  } catch (e) {
    await screenshot(page, 'failure').catch(() => {})
    throw e
  } finally {
    await close()
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e?.stack ?? String(e))
    process.exit(1)
  },
)
