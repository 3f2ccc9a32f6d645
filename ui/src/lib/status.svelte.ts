// Accounts, their sync state (with progress and ETA while a first sync runs) and profiles,
// polled from the server: quickly while something is syncing, slowly otherwise.

import { Api, ApiError } from './api'
import { EtaEstimator, parseProgress, type Progress } from './progress'
import type { Account, Profile, SyncStateEntry } from './types'

export interface AccountSync {
  account: string
  state: string
  detail: string | null
  progress: Progress | null
  eta: number | null
}

export class Status {
  accounts = $state.raw<Account[]>([])
  accountsLoaded = $state(false)
  sync = $state.raw<AccountSync[]>([])
  /** null: this server has no profiles. */
  profiles = $state.raw<Profile[] | null>(null)
  profilesChecked = $state(false)
  signedOut = $state(false)
  error = $state<string | null>(null)

  syncing: boolean = $derived(this.sync.some((s) => s.state === 'syncing' || s.state === 'new'))

  private eta = new EtaEstimator()
  private timer: ReturnType<typeof setTimeout> | null = null
  private stopped = false

  constructor(private readonly api: Api) {}

  private fail(e: unknown) {
    if (e instanceof ApiError && e.signedOut) this.signedOut = true
    else this.error = e instanceof Error ? e.message : String(e)
  }

  async loadAccounts() {
    try {
      this.accounts = await this.api.accounts()
      this.accountsLoaded = true
    } catch (e) {
      this.fail(e)
    }
  }

  async loadProfiles() {
    try {
      this.profiles = await this.api.profiles()
    } catch (e) {
      this.profiles = null
      this.fail(e)
    } finally {
      this.profilesChecked = true
    }
  }

  async activateProfile(name: string) {
    if (!this.profiles) return
    const before = this.profiles
    this.profiles = before.map((p) => ({ ...p, active: p.name === name }))
    try {
      await this.api.activateProfile(name)
      await this.loadProfiles()
    } catch (e) {
      this.profiles = before
      this.fail(e)
    }
  }

  applySync(entries: SyncStateEntry[], now = Date.now()) {
    this.sync = entries.map((e) => {
      const progress = e.state === 'syncing' ? parseProgress(e.detail) : null
      return {
        account: e.account,
        state: e.state,
        detail: e.detail ?? null,
        progress,
        eta: this.eta.update(e.account, progress, now),
      }
    })
  }

  async pollSync() {
    try {
      this.applySync(await this.api.syncStatus())
      this.error = null
    } catch (e) {
      this.fail(e)
    }
  }

  start() {
    this.stopped = false
    let ticks = 0
    const tick = async () => {
      await this.pollSync()
      // The schedule switches profiles too: look again now and then.
      if (++ticks % 15 === 0 && this.profiles !== null) void this.loadProfiles()
      if (this.stopped) return
      this.timer = setTimeout(tick, this.syncing ? 700 : 4000)
    }
    void tick()
  }

  /** Poll again now (after "sync now" or an account change). */
  kick() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (!this.stopped) this.start()
  }

  stop() {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
  }

  async syncNow() {
    try {
      await this.api.syncNow()
    } catch (e) {
      this.fail(e)
    }
    this.kick()
  }
}
