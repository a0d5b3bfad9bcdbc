import type { AuthResult } from '@imagegen/client';

/** Who is signed in: kept in this browser's storage, and nothing else is. */
export interface Session {
  token: string;
  email: string;
  /** Epoch ms after which the API refuses the token. */
  expiresAt: number;
}

const KEY = 'imagegen.session';

export function loadSession(): Session | undefined {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    return saved && saved.expiresAt > Date.now() ? saved : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(result: AuthResult): Session {
  const session = { token: result.token, email: result.user.email, expiresAt: Date.now() + result.expires_in * 1000 };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}
