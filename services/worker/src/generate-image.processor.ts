import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import {
  GenerationJobData,
  isTerminal,
  styledPrompt,
  type GenerationLifecycle,
  type Logger,
  type RunTimes,
} from '@imagegen/shared';
import type { GenerationRepository } from './generations/generation.repository';
import { HfFailure } from './hf/hf-answer';
import { seconds } from './hf/backoff';
import type { ImageSource } from './images/image-source';
import { CANCELED, SHUTDOWN } from './shutdown';

export interface ProcessorDeps {
  generations: GenerationRepository;
  source: ImageSource;
  lifecycle: GenerationLifecycle;
  runTimes: RunTimes;
  logger: Logger;
}

/**
 * `generation.create`: render the image, move the record to `completed` or `failed`, and announce
 * each change (live events, webhooks).
 */
export function generateImageProcessor({ generations, source, lifecycle, runTimes, logger }: ProcessorDeps) {
  // Three declared parameters: BullMQ passes the abort signal only to processors whose `length` is 3.
  return async (job: Job, token: string | undefined, abort: AbortSignal | undefined): Promise<void> => {
    const signal = abort ?? new AbortController().signal;
    const payload = GenerationJobData.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`invalid job payload: ${payload.error.message}`);
    const { generationId, run } = payload.data;
    const id = new ObjectId(generationId);
    const log = logger.child({ jobId: job.id, generationId });

    const generation = await generations.start(id, run);
    if (!generation) {
      // Run again after its run ended (the worker died after the last write): what follows the end
      // may not have happened yet. Doing it twice sends one webhook.
      const ended = await generations.find(id);
      if (ended?.run === run && isTerminal(ended.status)) await lifecycle.ended(ended);
      log.info('generation already finished or gone; nothing to do');
      return;
    }
    // Announcing the start must not cost the image: if it cannot be done, the generation goes on.
    await lifecycle.started(generation).catch((err: unknown) => {
      log.warn({ err: (err as Error).message }, 'could not announce the start');
    });

    const started = Date.now();
    try {
      const image = await source.render(
        { prompt: styledPrompt(generation.prompt, generation.settings.style), settings: generation.settings },
        {
          signal,
          onRetry: (notice) => {
            log.info(notice, 'waiting before retrying Hugging Face');
            void lifecycle
              .notice(generationId, `${notice.detail}; retrying in ${seconds(notice.delayMs)}`, notice.delayMs)
              .catch(() => undefined);
          },
        },
      );
      const completed = await generations.complete(generation, image);
      log.info({ completed: !!completed, mime: image.mime_type, bytes: image.bytes.length }, 'generation done');
      if (completed) {
        await lifecycle.ended(completed);
        // For the API's estimate of when pending generations start; a lost sample costs nothing.
        await runTimes.record(Date.now() - started).catch(() => undefined);
      }
    } catch (err) {
      if (signal.aborted && signal.reason === CANCELED) {
        // Whoever canceled it wrote the record and announced it; the job simply ends.
        log.info('generation canceled while running');
        return;
      }
      if (signal.aborted && signal.reason === SHUTDOWN && token) {
        // Hand the job back without spending an attempt, so another worker takes it at once.
        const released = await generations.release(id, run);
        if (released) await lifecycle.queued(released).catch(() => undefined);
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      // Our own faults go back to BullMQ, which retries; the worker's failed handler ends the record
      // on the last attempt.
      if (!(err instanceof HfFailure)) throw err;
      const failed = await generations.fail(id, run, err.message);
      log.warn({ err: err.message, status: err.status }, 'generation failed');
      if (failed) await lifecycle.ended(failed);
      throw new UnrecoverableError(err.message);
    }
  };
}
