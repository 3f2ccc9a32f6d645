// Keyboard shortcuts of the inbox, as a pure mapping from a key press to an action.

export type KeyAction =
  | 'next'
  | 'prev'
  | 'extend-next'
  | 'extend-prev'
  | 'open'
  | 'delete'
  | 'flag'
  | 'unread'
  | 'search'
  | 'help'
  | 'escape'
  | 'select'
  | 'select-all'
  | 'toggle-thread'
  | 'undo'
  | 'go-prefix'
  | 'go-inbox'
  | 'go-chats'
  | 'go-settings'
  | 'go-tracker'
  | 'go-rules'
  | 'compose'
  | 'reply'
  | 'reply-all'
  | 'forward'

export interface KeyLike {
  key: string
  ctrlKey?: boolean
  metaKey?: boolean
  altKey?: boolean
  shiftKey?: boolean
}

export const SHORTCUTS: { keys: string; what: string }[] = [
  { keys: 'j / ↓', what: 'next message' },
  { keys: 'k / ↑', what: 'previous message' },
  { keys: 'Shift+j / Shift+k', what: 'extend the selection' },
  { keys: 'Enter', what: 'open the message' },
  { keys: 'x', what: 'select or unselect' },
  { keys: 'o', what: 'expand or collapse the thread' },
  { keys: 'e / Delete', what: 'delete (undo for a few seconds)' },
  { keys: 's', what: 'flag or unflag' },
  { keys: 'u', what: 'mark unread or read' },
  { keys: 'z', what: 'undo the last delete' },
  { keys: '/', what: 'search' },
  { keys: 'g then i', what: 'go to the inbox' },
  { keys: 'g then c', what: 'go to the chats' },
  { keys: 'g then s', what: 'go to the settings' },
  { keys: 'g then t', what: 'go to the tracker (deliveries, dead letters)' },
  { keys: 'g then r', what: 'go to the rules' },
  { keys: 'c', what: 'write a new message' },
  { keys: 'r / a / f', what: 'reply / reply all / forward the open message' },
  { keys: 'Ctrl+Enter', what: 'while writing: send' },
  { keys: 'Enter / Shift+Enter', what: 'in a chat: send / new line' },
  { keys: 'Esc', what: 'close, clear' },
  { keys: '?', what: 'this help' },
]

/**
 * `inField` is true while the focus is in a text field: then only Escape is ours. `afterG`:
 * the key before was a lone `g` (the start of a "go to" pair).
 */
export function keyAction(e: KeyLike, inField: boolean, afterG = false): KeyAction | null {
  if (e.key === 'Escape') return 'escape'
  if (inField) return null
  if (e.altKey) return null
  if (e.ctrlKey || e.metaKey) return e.key.toLowerCase() === 'a' ? 'select-all' : null
  if (afterG) {
    const go = ({ i: 'go-inbox', c: 'go-chats', s: 'go-settings', t: 'go-tracker', r: 'go-rules' } as const)[e.key as 'i' | 'c' | 's' | 't' | 'r']
    if (go) return go
  }
  switch (e.key) {
    case 'g':
      return 'go-prefix'
    case 'j':
    case 'ArrowDown':
      return 'next'
    case 'k':
    case 'ArrowUp':
      return 'prev'
    case 'J':
      return 'extend-next'
    case 'K':
      return 'extend-prev'
    case 'Enter':
      return 'open'
    case 'e':
    case 'Delete':
    case '#':
      return 'delete'
    case 's':
      return 'flag'
    case 'u':
      return 'unread'
    case '/':
      return 'search'
    case '?':
      return 'help'
    case 'x':
    case ' ':
      return 'select'
    case 'o':
    case 'ArrowRight':
    case 'ArrowLeft':
      return 'toggle-thread'
    case 'z':
      return 'undo'
    case 'c':
      return 'compose'
    case 'r':
      return 'reply'
    case 'a':
      return 'reply-all'
    case 'f':
      return 'forward'
    default:
      return null
  }
}
