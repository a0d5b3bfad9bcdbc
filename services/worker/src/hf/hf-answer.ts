import { sniff, type SniffedImage } from '../images/sniff';
import { parseRetryAfter } from '../retry-after';
import { seconds, type RetryReason } from './backoff';

/** A failure that retrying cannot fix; its message is what the user sees on the failed generation. */
export class HfFailure extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HfFailure';
  }
}

export type HfOutcome =
  | { kind: 'image'; image: SniffedImage }
  | { kind: 'retry'; reason: RetryReason; detail: string }
  | { kind: 'fail'; failure: HfFailure }
  /**
   * Through the router only: this provider cannot serve the job, but another may. `unsupported`: it
   * says it does not serve the model, so the cached mapping is out of date.
   */
  | { kind: 'move-on'; detail: string; unsupported?: boolean };

export interface HfAnswer {
  status: number;
  contentType: string | undefined;
  retryAfter: string | undefined;
  body: Buffer;
}

const retry = (reason: RetryReason, detail: string): HfOutcome => ({ kind: 'retry', reason, detail });
const fail = (message: string, status?: number): HfOutcome => ({
  kind: 'fail',
  failure: new HfFailure(message, status),
});

/** Words with which the router and its providers say a model is not theirs. */
const NOT_SERVED = /not supported|not found|does not exist|unknown model|no such model|not available/i;

/**
 * What one answer from Hugging Face means for the job. `provider` is set for Inference Providers
 * through the router, where a model one provider does not serve may be served by the next.
 */
export function classifyAnswer(model: string, answer: HfAnswer, provider?: string): HfOutcome {
  if (provider) {
    const routed = classifyRouted(model, answer, provider);
    if (routed) return routed;
  }
  const { status } = answer;
  if (status >= 200 && status < 300) {
    const sniffed = sniff(answer.body);
    if (sniffed.kind === 'image') return { kind: 'image', image: sniffed.image };
    // Cut short on the way (a proxy, a dropped connection the length did not show): asking again helps.
    if (sniffed.kind === 'truncated') {
      return retry({ kind: 'network' }, `the ${sniffed.mime_type} answer was cut short (${answer.body.length} bytes)`);
    }
    return fail(
      `Hugging Face answered 200 but not with an image (${answer.contentType ?? 'no content-type'}): ${errorText(answer.body)}`,
      status,
    );
  }
  // Read only once the answer is not an image: decoding an image's first 4 KB as text, and failing
  // to parse it as JSON, was about 1 % of the worker's CPU per 1 MB image (BENCH_CPU_PROF, memory part).
  const said = errorText(answer.body);
  switch (status) {
    case 503: {
      const estimate = estimatedTimeMs(answer.body);
      return retry(
        { kind: 'cold-start', ...(estimate !== undefined && { hintMs: estimate }) },
        estimate !== undefined ? `model ${model} is loading (about ${seconds(estimate)})` : `503: ${said}`,
      );
    }
    case 429: {
      const wait = parseRetryAfter(answer.retryAfter);
      return retry(
        { kind: 'rate-limited', ...(wait !== undefined && { hintMs: wait }) },
        `rate limited (429): ${said}`,
      );
    }
    case 400:
      return fail(`Hugging Face rejected the request (400): ${said}`, status);
    case 401:
      return fail(
        `Hugging Face refused the token (401: ${said}): HF_TOKEN in this deployment's configuration is invalid`,
        status,
      );
    case 402:
      return fail(`The Hugging Face account is out of credits (402): ${said}`, status);
    case 403:
      return fail(`The Hugging Face token may not use model ${model} (403): ${said}`, status);
    case 404:
      return fail(
        `Model ${model} was not found on Hugging Face or is not served for text-to-image (404): ${said}`,
        status,
      );
    case 410:
      return fail(
        `Hugging Face no longer serves this endpoint (410): HF_BASE_URL in this deployment's configuration points at a retired API; use the router (https://router.huggingface.co/hf-inference/models)`,
        status,
      );
    case 413:
    case 422:
      return fail(`Hugging Face could not process the input (${status}): ${said}`, status);
    default:
      if (status >= 500 || status === 408)
        return retry({ kind: 'server-error' }, `Hugging Face error ${status}: ${said}`);
      return fail(`Hugging Face answered ${status}: ${said}`, status);
  }
}

/** The answers that mean something else through the router than from a dedicated endpoint. */
function classifyRouted(model: string, answer: HfAnswer, provider: string): HfOutcome | undefined {
  const { status } = answer;
  if (status >= 200 && status < 300) {
    const sniffed = sniff(answer.body);
    if (sniffed.kind !== 'not-image') return undefined;
    return { kind: 'move-on', detail: `answered ${status} but not with an image: ${errorText(answer.body)}` };
  }
  const said = errorText(answer.body);
  const who = `Hugging Face (${provider})`;
  if (status === 404 || status === 410 || (status === 400 && NOT_SERVED.test(said))) {
    return { kind: 'move-on', unsupported: true, detail: `does not serve ${model} (${status}: ${said})` };
  }
  if (status === 403) {
    return fail(
      `${who} refused the token (403: ${said}): give HF_TOKEN the "Make calls to Inference Providers" permission`,
      status,
    );
  }
  if (status === 402) {
    return fail(
      `The Hugging Face account is out of credits for Inference Providers (402: ${said}); add credits or a billing method at huggingface.co/settings/billing`,
      status,
    );
  }
  return undefined;
}

/**
 * What an error answer says: JSON `error` (a string, a list, or `{message}`), `detail` (fal),
 * `message` (wavespeed, zai-org), else the start of the text; its control characters shown as
 * U+FFFD (see `showable`).
 */
export function errorText(body: Buffer): string {
  return showable(saidIn(body));
}

/**
 * Control characters, but tab, newline and carriage return, which are how a message breaks its lines.
 * The rest mean nothing in a message and some do harm: U+0000 cannot be stored in jsonb (FerretDB on
 * PostgreSQL), so the failure would not be recorded, and ESC sequences rewrite the terminal that
 * shows a log. They become U+FFFD, as the bytes that are not UTF-8 in the same body already do.
 */
const CONTROL = /(?![\t\n\r])\p{Cc}/gu;

function showable(said: string): string {
  return said.replace(CONTROL, '\ufffd');
}

function saidIn(body: Buffer): string {
  const text = body.subarray(0, 4096).toString('utf8');
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object') {
      const { error, detail, message } = json as { error?: unknown; detail?: unknown; message?: unknown };
      const said = error ?? detail ?? message;
      if (Array.isArray(said)) return said.map((item) => (typeof item === 'string' ? item : describe(item))).join('; ');
      if (typeof said === 'string') return said;
      if (said !== undefined) return describe(said);
    }
  } catch {
    // Not JSON: fall through to the raw text.
  }
  const plain = text
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!plain) return 'empty body';
  return plain.length > 200 ? `${plain.slice(0, 200)}…` : plain;
}

/** `{message}` or `{msg}` objects (OpenAI, fal's validation details) by their text, others as JSON. */
function describe(value: unknown): string {
  if (value && typeof value === 'object') {
    const { message, msg } = value as { message?: unknown; msg?: unknown };
    if (typeof message === 'string') return message;
    if (typeof msg === 'string') return msg;
  }
  return JSON.stringify(value);
}

function estimatedTimeMs(body: Buffer): number | undefined {
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    const estimate = json && typeof json === 'object' && 'estimated_time' in json ? Number(json.estimated_time) : NaN;
    return Number.isFinite(estimate) && estimate >= 0 ? estimate * 1000 : undefined;
  } catch {
    return undefined;
  }
}
