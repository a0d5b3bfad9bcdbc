import { z } from 'zod';

/**
 * A webhook URL as a request may give it: absolute http(s), at most 2048 characters, with no
 * credentials (`http://trusted@other-host` reads as one host and calls another). Normalized, so the
 * stored URL is the one called. Whether its host is a public address is checked apart, with DNS.
 */
export const WebhookUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .pipe(z.url({ protocol: /^https?$/, normalize: true, error: 'must be an absolute http:// or https:// URL' }))
  // Normalizing percent-encodes and punycodes, so the URL we would call can outgrow the limit.
  .pipe(z.string().max(2048, 'must be at most 2048 characters once normalized'))
  .refine((url) => {
    // Runs even after z.url refused the text, so it must not throw on a non-URL.
    const parsed = URL.parse(url);
    return !parsed || (!parsed.username && !parsed.password);
  }, 'must not carry a user name or password (user@host)');

/** `start`: when a worker takes the job; `completed`: when it ends, whether completed or failed. */
export const WebhookEvent = z.enum(['start', 'completed']);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

export const WebhookEvents = z
  .array(WebhookEvent)
  .min(1, 'must name at least one event')
  .refine((events) => new Set(events).size === events.length, 'must not repeat an event');

export const DEFAULT_WEBHOOK_EVENTS: WebhookEvent[] = ['completed'];
