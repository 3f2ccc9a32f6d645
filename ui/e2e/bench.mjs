// Inbox UI benchmark in Chromium against `switchboard serve` on a big store (scripts/bench-ui.sh
// prepares the store). Starts the server itself so "launch" includes opening the store:
//   - launch → first inbox rows painted (server spawn to rows on screen), then warm reloads;
//   - scroll frame times: brisk wheel-like scrolling, then dragging through every message
//     (pages load as it goes);
//   - search as you type: keystroke → results for that text (or newer) painted, per keystroke.
// Prints one JSON object on stdout. Env: SB_BIN, SB_DATA_DIR, SB_MESSAGES.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { launch } from './browser.mjs'

const BIN = process.env.SB_BIN
const DATA = process.env.SB_DATA_DIR
const MESSAGES = Number(process.env.SB_MESSAGES || 0)
if (!BIN || !DATA) throw new Error('SB_BIN and SB_DATA_DIR are required (run scripts/bench-ui.sh)')
const log = (...a) => console.error('[bench-ui]', ...a)

const QUERIES = ['budget review', 'invoice customer', 'conference slides', 'password renewal', 'kitchen garden']
const TYPING_MS = 110

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

function startServer(port) {
  const started = Date.now()
  const child = spawn(BIN, ['serve', '--no-sync', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, SWITCHBOARD_DATA_DIR: DATA },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const login = new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /(http:\/\/\S+\/login\?secret=\S+)/.exec(out)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`switchboard serve exited (${code}): ${out}`)))
  })
  return { child, started, login }
}

function stats(values) {
  const v = [...values].sort((a, b) => a - b)
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))]
  const round = (x) => Math.round(x * 10) / 10
  return { n: v.length, p50: round(q(0.5)), p95: round(q(0.95)), p99: round(q(0.99)), max: round(v[v.length - 1] ?? 0) }
}

// In the page before any script of it: when the first rows and each search result are painted.
function instrument() {
  window.__bench = { firstRows: null, paints: [], keys: [] }
  const afterPaint = (fn) => requestAnimationFrame(() => requestAnimationFrame(fn))
  new MutationObserver((_, obs) => {
    if (document.querySelector('[role=treeitem]')) {
      obs.disconnect()
      afterPaint(() => (window.__bench.firstRows = performance.now()))
    }
  }).observe(document, { subtree: true, childList: true })
  const watchQuery = () => {
    const section = document.querySelector('section.list')
    if (!section) return setTimeout(watchQuery, 50)
    new MutationObserver(() => {
      const q = section.getAttribute('data-query') ?? ''
      afterPaint(() => window.__bench.paints.push({ t: performance.now(), q }))
    }).observe(section, { attributes: true, attributeFilter: ['data-query'] })
  }
  addEventListener('DOMContentLoaded', watchQuery)
  addEventListener('keydown', (e) => window.__bench.keys.push({ t: performance.now(), key: e.key }), true)
}

async function firstRows(page) {
  await page.waitForFunction(() => window.__bench?.firstRows !== null, null, { timeout: 60_000, polling: 20 })
  return page.evaluate(() => ({ at: performance.timeOrigin + window.__bench.firstRows, sincenav: window.__bench.firstRows }))
}

async function scrollFrames(page, step, maxFrames, untilEnd) {
  return page.evaluate(
    async ({ step, maxFrames, untilEnd }) => {
      const el = document.querySelector('[data-testid=message-list]')
      const frames = []
      const t0 = performance.now()
      let last = t0
      for (let i = 0; i < maxFrames; i++) {
        await new Promise((r) => requestAnimationFrame(r))
        const now = performance.now()
        frames.push(now - last)
        last = now
        const before = el.scrollTop
        el.scrollTop += step
        const count = document.querySelector('[data-testid=count]')?.textContent ?? ''
        if (untilEnd && el.scrollTop === before && !count.includes('+')) break
      }
      return { frames: frames.slice(1), ms: performance.now() - t0, rows: document.querySelector('[data-testid=count]')?.textContent?.trim(), heap: performance.memory?.usedJSHeapSize ?? null }
    },
    { step, maxFrames, untilEnd },
  )
}

async function typeQuery(page, text) {
  const box = page.getByTestId('search')
  await box.click()
  await page.evaluate(() => {
    window.__bench.paints = []
    window.__bench.keys = []
  })
  for (const ch of text) {
    await page.keyboard.type(ch)
    await page.waitForTimeout(TYPING_MS)
  }
  const final = text.trim()
  await page.waitForFunction((q) => window.__bench.paints.some((p) => p.q === q), final, { timeout: 30_000, polling: 20 })
  const { paints, keys } = await page.evaluate(() => window.__bench)
  const latencies = []
  keys.forEach((k, i) => {
    const typed = text.slice(0, i + 1).trim()
    if (typed.length < 2) return
    // A keystroke that leaves the text as it was (a space after a word) changes nothing on
    // screen: when that text's results were already painted, it is up to date at once.
    const shown = paints.filter((p) => p.t < k.t).at(-1)
    if (shown?.q === typed) {
      latencies.push(0)
      return
    }
    // Texts from this keystroke on: results for any of them count as up to date.
    const later = new Set()
    for (let j = i; j < text.length; j++) later.add(text.slice(0, j + 1).trim())
    const p = paints.find((p) => p.t >= k.t && later.has(p.q))
    if (p) latencies.push(p.t - k.t)
  })
  const found = await page.getByTestId('count').textContent()
  await page.keyboard.press('Escape')
  await page.keyboard.press('Escape')
  return { latencies, found: found.trim() }
}

async function main() {
  const port = await freePort()
  const { context, close } = await launch()
  const page = context.pages()[0] ?? (await context.newPage())
  await page.addInitScript(instrument)
  let server = null
  try {
    await page.goto('about:blank')
    server = startServer(port)
    const login = await server.login
    await page.goto(login)
    const cold = await firstRows(page)
    const launchToRows = cold.at - server.started
    log(`launch → first rows painted: ${launchToRows.toFixed(0)} ms (page: ${cold.sincenav.toFixed(0)} ms)`)
    const warm = []
    for (let i = 0; i < 5; i++) {
      await page.goto(`http://127.0.0.1:${port}/`)
      warm.push((await firstRows(page)).sincenav)
    }
    log(`reload → first rows painted: ${warm.map((w) => w.toFixed(0)).join(', ')} ms`)

    await page.getByRole('tree').waitFor()
    await page.waitForTimeout(500)
    const wheel = await scrollFrames(page, 240, 600, false)
    log(`wheel scroll: ${JSON.stringify(stats(wheel.frames))}`)
    const drag = await scrollFrames(page, 3600, 6000, true)
    log(`drag through all: ${(drag.ms / 1000).toFixed(1)} s, ${drag.rows}, ${JSON.stringify(stats(drag.frames))}`)

    await page.evaluate(() => {
      document.querySelector('[data-testid=message-list]').scrollTop = 0
    })
    const latencies = []
    const queries = []
    for (const q of QUERIES) {
      const r = await typeQuery(page, q)
      latencies.push(...r.latencies)
      queries.push({ q, found: r.found, ...stats(r.latencies) })
      log(`search "${q}": ${r.found}, ${JSON.stringify(stats(r.latencies))}`)
    }
    const result = {
      messages: MESSAGES,
      launch_to_first_rows_ms: Math.round(launchToRows),
      first_rows_page_ms: Math.round(cold.sincenav),
      reload_first_rows_ms: stats(warm),
      wheel_scroll_frame_ms: stats(wheel.frames),
      wheel_long_frames: wheel.frames.filter((f) => f > 20).length,
      drag_all_frame_ms: stats(drag.frames),
      drag_all_seconds: Math.round(drag.ms / 100) / 10,
      drag_all_rows: drag.rows,
      drag_long_frames: drag.frames.filter((f) => f > 20).length,
      js_heap_mb_after_all_rows: drag.heap ? Math.round(drag.heap / 1e5) / 10 : null,
      search_keystroke_to_results_ms: stats(latencies),
      search_queries: queries,
      typing_interval_ms: TYPING_MS,
    }
    console.log(JSON.stringify(result))
  } finally {
    await close()
    server?.child.kill()
  }
}

main().catch((e) => {
  console.error(e?.stack ?? String(e))
  process.exit(1)
})
