// Instant messaging in a real Chromium against a real `switchboard serve` and a private Prosody,
// driven by tests/tests/ui_im_e2e.rs. Lines starting with "@@ " on stdout ask the Rust side to
// act as the contact (bob, a slixmpp client): connect, send, change presence, check what it
// received. It answers one line on stdin: "ok …" or "fail …". Screenshots go to $SB_SHOTS.
import { createInterface } from 'node:readline'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { launch } from './browser.mjs'

const env = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run this through tests/tests/ui_im_e2e.rs)`)
  return v
}
const LOGIN = env('SB_LOGIN_URL')
const SHOTS = env('SB_SHOTS')
const XMPP_PORT = env('SB_XMPP_PORT')
const CERT = env('SB_CERT_SHA256')
const JID = env('SB_JID')
const PASSWORD = env('SB_PASSWORD')
const PEER = env('SB_PEER_JID')
mkdirSync(SHOTS, { recursive: true })

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
async function ask(command, arg = '') {
  process.stdout.write(`@@ ${command} ${JSON.stringify(arg)}\n`)
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

async function main() {
  const { context, close } = await launch()
  const page = context.pages()[0] ?? (await context.newPage())
  const consoleErrors = []
  // Expected refusals: 422 is a failed connection test, 404 the probe for a profiles API.
  const expected = /Failed to load resource: the server responded with a status of (404|422)/
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.test(m.text())) consoleErrors.push(m.text())
  })
  page.on('pageerror', (e) => consoleErrors.push(String(e)))
  try {
    step('sign in; the Chats view says there is no chat account yet')
    await page.goto(LOGIN)
    check(new URL(page.url()).pathname === '/', `signed in and sent to / (at ${page.url()})`)
    await page.getByTestId('empty-no-accounts').waitFor()
    await page.keyboard.press('g')
    await page.keyboard.press('c')
    await page.getByTestId('chats-no-account').waitFor()
    check(new URL(page.url()).hash === '#chats', `g c opens the chats (at ${page.url()})`)
    await screenshot(page, 'chats-no-account')
    await page.getByTestId('chats-no-account').getByRole('button', { name: 'Add an XMPP account' }).click()

    step('add the XMPP account in Settings: the untrusted certificate shows its fingerprint')
    const form = page.getByRole('form', { name: 'Add an account' })
    await form.waitFor()
    await form.getByLabel('XMPP (chat)').check()
    check((await form.getByLabel('Sync policy').count()) === 0, 'an XMPP account has no sync policy')
    check((await form.getByLabel('Port').count()) === 0, 'no port without a server')
    await form.getByLabel('Account name').fill('chat')
    await form.getByLabel('Chat address (JID)').fill(JID)
    await form.getByLabel('Server (optional)').fill('127.0.0.1')
    check((await form.getByLabel('Security').inputValue()) === 'starttls', 'STARTTLS is the default for XMPP')
    check((await form.getByLabel('Port').inputValue()) === '5222', 'the standard port 5222 is filled in')
    await form.getByLabel('Port').fill(XMPP_PORT)
    await form.getByLabel('Password', { exact: true }).fill('not-the-password')
    await form.getByRole('button', { name: 'Test connection and add' }).click()
    const failure = page.getByTestId('account-failure')
    await failure.waitFor({ timeout: 30_000 })
    check((await failure.textContent()).includes('Certificate not trusted'), 'the failure names the certificate')
    const shown = (await page.getByTestId('fingerprint').textContent()).trim()
    check(shown === colon(CERT), `the fingerprint shown (${shown}) is the server's (${colon(CERT)})`)
    await screenshot(page, 'xmpp-untrusted-certificate')

    step('trusted, the wrong password is named in plain words; the right one adds the account')
    await page.getByRole('button', { name: 'Trust this certificate' }).click()
    await failure.getByText('Wrong user name or password').waitFor({ timeout: 30_000 })
    await screenshot(page, 'xmpp-wrong-password')
    await form.getByLabel('Password', { exact: true }).fill(PASSWORD)
    await form.getByRole('button', { name: 'Test connection and add' }).click()
    const account = page.getByTestId('account-chat')
    await account.waitFor({ timeout: 30_000 })
    check((await account.textContent()).includes(`XMPP · ${JID} · 127.0.0.1:${XMPP_PORT} · STARTTLS · pinned certificate`), 'the account line says what it is')
    await account.getByText('Online as').waitFor({ timeout: 30_000 })
    await screenshot(page, 'xmpp-account-online')

    step('editing the XMPP account shows its address, server and pinned certificate')
    await account.getByRole('button', { name: 'Edit' }).click()
    const edit = page.getByRole('form', { name: 'Edit account chat' })
    check((await edit.getByLabel('Chat address (JID)').inputValue()) === JID, 'the JID is shown')
    check((await edit.getByLabel('Server (optional)').inputValue()) === '127.0.0.1', 'the server is shown')
    check((await edit.getByLabel('Port').inputValue()) === XMPP_PORT, 'the port is shown')
    check((await edit.textContent()).includes(colon(CERT)), 'the pinned certificate is shown')
    check((await edit.getByLabel('Sync policy').count()) === 0, 'no sync policy when editing either')
    await edit.getByRole('button', { name: 'Cancel' }).click()
    await account.waitFor()

    step('the contact and their presence show in Chats')
    await ask('peer-connect')
    await page.getByRole('button', { name: 'Back to the inbox' }).click()
    await page.getByTestId('nav-chats').click()
    const entry = page.getByTestId(`chat-${PEER}`)
    await page.locator(`[data-testid="chat-${PEER}"][data-presence=available]`).waitFor({ timeout: 30_000 })
    check((await entry.textContent()).includes('Online.'), 'the presence is said in words for screen readers')
    check((await entry.textContent()).includes('No messages yet'), 'no conversation yet')
    await screenshot(page, 'chats-contact-online')

    step('a message from the contact appears without a reload, unread')
    await ask('peer-send', 'Hello Alice, are you there?')
    await entry.getByText('Hello Alice, are you there?').waitFor({ timeout: 30_000 })
    check((await entry.getByTestId('unread').textContent()).startsWith('1'), 'one unread message')
    await page.getByTestId('nav-chats').getByText('1').waitFor()
    await screenshot(page, 'chats-new-message')

    step('the chat view shows it; a reply typed there reaches the contact, delivered')
    await entry.click()
    const chat = page.getByTestId('chat-view')
    await chat.getByTestId('im-in').getByText('Hello Alice, are you there?').waitFor()
    check(new URL(page.url()).hash === `#chat/chat/${encodeURIComponent(PEER)}`, `the URL names the chat (${page.url()})`)
    await page.getByTestId('nav-chats').getByText('1').waitFor({ state: 'detached', timeout: 15_000 })

    step('typing shows both ways (XEP-0085)')
    await ask('peer-typing')
    await chat.getByTestId('typing').getByText(`${PEER} is typing…`).waitFor({ timeout: 30_000 })
    await screenshot(page, 'chat-contact-typing')
    const composer = chat.getByTestId('composer')
    await composer.click()
    await composer.pressSequentially('Yes, here!')
    await ask('peer-got-chatstate', 'composing')
    await composer.press('Enter')
    await page.waitForFunction(() => document.querySelector('[data-testid=composer]')?.value === '', null, { timeout: 10_000 })
    await ask('peer-got', 'Yes, here!')
    const out = chat.locator('[data-testid=im-out]', { hasText: 'Yes, here!' })
    await chat.locator('[data-testid=im-out][data-state=delivered]', { hasText: 'Yes, here!' }).waitFor({ timeout: 30_000 })
    check((await out.getByTestId('receipt').textContent()).includes('Delivered'), 'the receipt says delivered')
    await screenshot(page, 'chat-reply-delivered')

    step('Shift+Enter makes a new line; Enter sends both lines as one message')
    await composer.pressSequentially('first line')
    await composer.press('Shift+Enter')
    await composer.pressSequentially('second line')
    check((await composer.inputValue()) === 'first line\nsecond line', 'Shift+Enter added a line break')
    await composer.press('Enter')
    await ask('peer-got', 'first line\nsecond line')

    step('too long a message is refused before sending, saying why')
    await composer.fill('x'.repeat(16_390))
    await chat.getByTestId('send-error').getByText('Too long to send').waitFor()
    check((await chat.getByTestId('composer-count').textContent()).includes('6 characters over the limit'), 'the count says how much too long')
    check(await chat.getByRole('button', { name: 'Send' }).isDisabled(), 'Send is disabled')
    await composer.press('Enter')
    await composer.fill('')

    step('the contact’s presence change shows in the chat view')
    await ask('peer-presence', 'away|Back in ten minutes')
    await chat.getByTestId('chat-presence').getByText('Away: Back in ten minutes').waitFor({ timeout: 30_000 })
    await screenshot(page, 'chat-presence-away')

    step('the IM is in the consolidated inbox with its channel badge; opening it goes to the chat')
    await page.keyboard.press('Escape')
    await page.keyboard.press('g')
    await page.keyboard.press('i')
    // IMs have no subject; the channel badge tells them from mail.
    const row = page.locator('[role=treeitem]').filter({ has: page.locator('.badge.channel', { hasText: 'im' }) })
    await row.first().waitFor({ timeout: 30_000 })
    await screenshot(page, 'inbox-with-im')
    await row.first().click()
    const view = page.getByTestId('message-view')
    await view.getByRole('heading', { name: 'Instant message' }).waitFor()
    await view.getByTestId('open-chat').click()
    await page.getByTestId('chat-view').and(page.locator(`[data-contact="${PEER}"]`)).waitFor()
    await screenshot(page, 'opened-from-inbox')

    check(consoleErrors.length === 0, `no errors in the console: ${consoleErrors.join(' | ')}`)
    console.log('ui im e2e: all steps passed')
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
