import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** What `imagegen login` remembers between runs. */
export interface SavedLogin {
  url: string;
  token: string;
  email: string;
}

/** `$IMAGEGEN_CONFIG`, else `$XDG_CONFIG_HOME/imagegen/config.json`, else `~/.config/imagegen/config.json`. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.IMAGEGEN_CONFIG) return env.IMAGEGEN_CONFIG;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'imagegen', 'config.json');
}

export async function readLogin(path: string): Promise<SavedLogin | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as SavedLogin;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Written readable by its owner only: it holds a bearer token. */
export async function saveLogin(path: string, login: SavedLogin): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
}

export async function forgetLogin(path: string): Promise<void> {
  await rm(path, { force: true });
}
