import { classifyAnswer, HfFailure, type HfOutcome } from '../hf/hf-answer';
import { sniff, type SniffedImage } from '../images/sniff';
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

/** One image an answer gave: read already, or at a URL still to download. */
export type FoundImage = { kind: 'image'; image: SniffedImage } | { kind: 'download'; url: string };

/**
 * What one answer means: an outcome (a download's image among them), the next step of the
 * provider's protocol, or the images the job asked for.
 */
export type Meaning =
  | HfOutcome
  | { kind: 'followup'; followup: Exclude<Followup, { kind: 'images' }> }
  | { kind: 'found'; images: FoundImage[] };

export const whoOf = (speaker: Speaker) =>
  speaker.who ?? (speaker.routed ? `Hugging Face (${speaker.routed})` : 'Hugging Face');

/**
 * What the answer to `req` means: an error answer by the provider's rules (the adapter's own, else
 * Hugging Face's), a download by its bytes, anything else by the adapter. Images given in the
 * answer itself are read at once: one that is not a whole image decides for the answer.
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
  if (followup.kind !== 'images') return { kind: 'followup', followup };
  const given = followup.images.length;
  if (given < job.images) return { kind: 'move-on', detail: `answered ${given} of the ${job.images} images asked for` };
  const found: FoundImage[] = [];
  for (const ref of followup.images.slice(0, job.images)) {
    if ('url' in ref && !ref.url.startsWith('data:')) {
      found.push({ kind: 'download', url: ref.url });
      continue;
    }
    const outcome = imageOutcome(
      model,
      'bytes' in ref
        ? { ...answerOf(answer), body: ref.bytes }
        : {
            ...answerOf(answer),
            contentType: undefined,
            body: Buffer.from(ref.url.slice(ref.url.indexOf(',') + 1), 'base64'),
          },
      speaker,
    );
    if (outcome.kind !== 'image') return outcome;
    found.push(outcome);
  }
  return { kind: 'found', images: found };
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
