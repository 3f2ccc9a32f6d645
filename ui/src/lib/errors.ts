// What a failed connection test means, in plain words, and what to do about it.

import type { AccountTestFailure } from './types'

export interface Explained {
  title: string
  advice: string
  /** The server's own words, for the curious. */
  detail: string
  /** The certificate's SHA-256 when it can be trusted by pinning it. */
  fingerprint: string | null
}

export function explainFailure(f: AccountTestFailure): Explained {
  const detail = f.detail
  const fingerprint = f.fingerprint ?? null
  switch (f.error) {
    case 'auth_failed':
      return {
        title: 'Wrong user name or password',
        advice: 'The server refused the login. Check both; some providers need an app password.',
        detail,
        fingerprint,
      }
    case 'tls_error':
      if (fingerprint)
        return {
          title: 'Certificate not trusted',
          advice:
            'The server’s certificate is not signed by an authority this computer trusts (a self-signed certificate). ' +
            'Trust it only if the fingerprint below is the one your server’s administrator gave you.',
          detail,
          fingerprint,
        }
      return {
        title: 'Secure connection failed',
        advice: 'The server’s certificate could not be checked (expired, or for another host name), or it does not offer TLS on this port.',
        detail,
        fingerprint,
      }
    case 'unreachable':
      return {
        title: 'Server unreachable',
        advice: 'Nothing answered at this host and port. Check the server name, the port and your network.',
        detail,
        fingerprint,
      }
    default:
      return {
        title: 'The server reported an error',
        advice: 'Check the settings; the server said what is below.',
        detail,
        fingerprint,
      }
  }
}

/** Groups a fingerprint's hex in pairs for reading aloud and comparing. */
export function formatFingerprint(fp: string): string {
  return (fp.toUpperCase().match(/.{1,2}/g) ?? []).join(':')
}

/** A one-line account state for the account list. */
export function describeState(state: string, detail?: string | null): string {
  switch (state) {
    case 'new':
      return 'Not synced yet'
    case 'ok':
      return 'Up to date'
    case 'syncing':
      return detail ? `Syncing ${detail}` : 'Syncing'
    case 'auth_failed':
      return `Login refused${detail ? `: ${detail}` : ''}`
    case 'tls_error':
      return `Certificate problem${detail ? `: ${detail}` : ''}`
    case 'unreachable':
      return `Unreachable${detail ? `: ${detail}` : ''}`
    default:
      return detail ? `Error: ${detail}` : state
  }
}
