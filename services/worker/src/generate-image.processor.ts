import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData, styledPrompt, type Logger } from '@imagegen/shared';
import type { GenerationRepository } from './generations/generation.repository';
import { HfFailure } from './hf/hf-answer';
import type { ImageSource } from './images/image-source';
import { SHUTDOWN } from './shutdown';
import type { WebhookNotifier } from './webhooks/webhook-notifier';

export interface ProcessorDeps {
  generations: GenerationRepository;
  source: ImageSource;
  notifier: WebhookNotifier;
  logger: Logger;
}

/**
 * `generation.create`: render the image, move the record to `completed` or `failed`, and queue the
 * webhooks the generation asked for.
 */
export function generateImageProcessor({ generations, source, notifier, logger }: ProcessorDeps) {
  // Three declared parameters: BullMQ passes the abort signal only to processors whose `length` is 3.
  return async (job: Job, token: string | undefined, abort: AbortSignal | undefined): Promise<void> => {
    const signal = abort ?? new AbortController().signal;
    const payload = GenerationJobData.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`invalid job payload: ${payload.error.message}`);
    const id = new ObjectId(payload.data.generationId);
    const log = logger.child({ jobId: job.id, generationId: payload.data.generationId });

    const generation = await generations.start(id);
    if (!generation) {
      // Run again after its generation ended (the worker died after the last write): the end's
      // webhook may not have been queued yet. Queuing it twice adds one message.
      const ended = await generations.find(id);
      if (ended) await notifier.ended(ended);
      log.info('generation already finished or gone; nothing to do');
      return;
    }
    // A start notice must not cost the image: if it cannot be queued, the generation goes on.
    await notifier.started(generation).catch((err: unknown) => {
      log.warn({ err: (err as Error).message }, 'could not queue the start webhook');
    });

    try {
      const image = await source.render(
        { prompt: styledPrompt(generation.prompt, generation.settings.style), settings: generation.settings },
        { signal, onRetry: (notice) => log.info(notice, 'waiting before retrying Hugging Face') },
      );
      const completed = await generations.complete(generation, image);
      log.info({ completed: !!completed, mime: image.mime_type, bytes: image.bytes.length }, 'generation done');
      if (completed) await notifier.ended(completed);
    } catch (err) {
      if (signal.aborted && signal.reason === SHUTDOWN && token) {
        // Hand the job back without spending an attempt, so another worker takes it at once.
        await generations.release(id);
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      // Our own faults go back to BullMQ, which retries; the worker's failed handler ends the record
      // on the last attempt.
      if (!(err instanceof HfFailure)) throw err;
      const failed = await generations.fail(id, err.message);
      log.warn({ err: err.message, status: err.status }, 'generation failed');
      if (failed) await notifier.ended(failed);
      throw new UnrecoverableError(err.message);
    }
  };
}
