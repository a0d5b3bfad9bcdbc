import { classifyAnswer, HfFailure, type HfOutcome } from '../hf/hf-answer';
import { sniff } from '../images/sniff';
import {
  MalformedAnswer,
  type Followup,
  type ProviderAdapter,
  type ProviderAnswer,
  type ProviderJob,
  type ProviderRequest,
} from './adapter';

/** Whose answers these are: they decide what an answer means and what messages say. */
export interface Speaker {
  /** The router's name of the provider (Inference Providers), whose answers mean more than an endpoint's. */
  routed?: string;
  /** Who messages name when it is not Hugging Face (OpenAI). */
  who?: string;
}

/** What one answer means: an outcome, or the next step of the provider's protocol. */
export type Meaning = HfOutcome | { kind: 'followup'; followup: Exclude<Followup, { kind: 'image' }> };

export const whoOf = (speaker: Speaker) =>
  speaker.who ?? (speaker.routed ? `Hugging Face (${speaker.routed})` : 'Hugging Face');

/**
 * What the answer to `req` means: an error answer by the provider's rules (the adapter's own, else
 * Hugging Face's), an image by its bytes, anything else by the adapter.
 */
export function meaningOf(
  adapter: ProviderAdapter,
  req: ProviderRequest,
  answer: ProviderAnswer,
  job: ProviderJob,
  speaker: Speaker,
): Meaning {
  const model = job.settings.model;
  const isImage = req.stage === 'download';
  if (answer.status < 200 || answer.status >= 300) {
    if (isImage) {
      return answer.status >= 500 || answer.status === 429
        ? { kind: 'retry', reason: { kind: 'server-error' }, detail: `image download answered ${answer.status}` }
        : { kind: 'move-on', detail: `its image could not be downloaded (${answer.status})` };
    }
    return adapter.classify?.(answer, job, req) ?? classifyAnswer(model, answerOf(answer), speaker.routed);
  }
  if (isImage) return imageOutcome(model, answerOf(answer), speaker);
  let followup: Followup;
  try {
    followup = adapter.read(answer, req);
  } catch (err) {
    if (!(err instanceof MalformedAnswer)) throw err;
    return { kind: 'move-on', detail: err.message };
  }
  if (followup.kind === 'image') {
    return imageOutcome(model, { ...answerOf(answer), body: followup.bytes }, speaker);
  }
  if (followup.kind === 'download' && followup.url.startsWith('data:')) {
    const bytes = Buffer.from(followup.url.slice(followup.url.indexOf(',') + 1), 'base64');
    return imageOutcome(model, { ...answerOf(answer), contentType: undefined, body: bytes }, speaker);
  }
  return { kind: 'followup', followup };
}

/** What bytes that should be an image are: Hugging Face's rules for its answers, plain sniffing for others. */
function imageOutcome(model: string, answer: ReturnType<typeof answerOf>, speaker: Speaker): HfOutcome {
  if (!speaker.who) return classifyAnswer(model, answer, speaker.routed);
  const sniffed = sniff(answer.body);
  if (sniffed.kind === 'image') return sniffed;
  if (sniffed.kind === 'truncated') {
    return { kind: 'retry', reason: { kind: 'network' }, detail: `the ${sniffed.mime_type} answer was cut short` };
  }
  return { kind: 'fail', failure: new HfFailure(`${speaker.who} answered ${answer.status} but not with an image`) };
}

function answerOf(answer: ProviderAnswer) {
  return {
    status: answer.status,
    contentType: answer.headers['content-type'],
    retryAfter: answer.headers['retry-after'],
    body: answer.body,
  };
}
