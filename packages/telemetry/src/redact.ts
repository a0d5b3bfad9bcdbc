import { ATTR_URL_FULL, ATTR_URL_QUERY } from '@opentelemetry/semantic-conventions';

export const REDACTED = 'REDACTED';

/**
 * `url.full` and `url.query` of an outgoing request with every query value replaced. Outgoing
 * requests go to Hugging Face and to users' webhook URLs, whose query may carry a secret under
 * any name.
 */
export function redactedUrlAttributes(origin: string, path: string): Record<string, string> {
  const url = new URL(path, origin);
  if (!url.search) return {};
  for (const name of new Set(url.searchParams.keys())) url.searchParams.set(name, REDACTED);
  return { [ATTR_URL_FULL]: url.toString(), [ATTR_URL_QUERY]: url.search };
}
