import { ImagegenClient } from '../client';
import { str, type Values } from './arguments';
import { configPath, readLogin } from './config-file';
import type { CliIo } from './io';

/** Not logged in: exit code 3, like an API 401. */
export class NotLoggedInError extends Error {}

export const DEFAULT_URL = 'http://localhost:8000';

/** `--url`, else `IMAGEGEN_URL`, else the logged-in API, else localhost:8000; and the saved token. */
export async function connect(io: CliIo, values: Values, needsLogin = true): Promise<ImagegenClient> {
  const saved = await readLogin(configPath(io.env));
  const token = io.env.IMAGEGEN_TOKEN || saved?.token;
  if (needsLogin && !token) throw new NotLoggedInError('Not logged in: run `imagegen login` (or set IMAGEGEN_TOKEN)');
  const baseUrl = str(values.url) ?? io.env.IMAGEGEN_URL ?? saved?.url ?? DEFAULT_URL;
  return new ImagegenClient({ baseUrl, token });
}
