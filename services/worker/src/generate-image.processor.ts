import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData, isTerminal, styledPrompt } from '@imagegen/shared';
import {
  isMongoOutage,
  type GenerationLifecycle,
  type GenerationStore,
  type Logger,
  type RunTimes,
} from '@imagegen/core';
import type { GenerationRepository } from './generations/generation.repository';
import { retryWhileOutage } from './generations/outage-retry';
import { HfFailure } from './hf/hf-answer';
import { seconds } from './hf/backoff';
import type { ImageSource } from './images/image-source';
import type { JobOutcome, WorkerMetrics } from './metrics';
import { ABORT_REASONS } from './abort-reasons';

export interface ProcessorDeps {
  store: GenerationStore;
  generations: GenerationRepository;
  source: ImageSource;
  lifecycle: GenerationLifecycle;
  runTimes: RunTimes;
  logger: Logger;
  metrics: Pick<WorkerMetrics, 'jobEnded'>;
  /** How long a write after Hugging Face answered is retried while MongoDB is unreachable. */
  dbRetryMs: number;
  /** When a job that met a MongoDB outage runs again. */
  outageDelayMs: number;
}

/**
 * `generation.create`: render the image, move the record to `completed` or `failed`, and announce
 * each change (live events, webhooks).
 */
export function generateImageProcessor(deps: ProcessorDeps) {
  const { logger, metrics, outageDelayMs } = deps;
  // Three declared parameters: BullMQ passes the abort signal only to processors whose `length` is 3.
  return async (job: Job, token: string | undefined, abort: AbortSignal | undefined): Promise<void> => {
    const payload = GenerationJobData.safeParse(job.data);
    if (!payload.success) throw new UnrecoverableError(`invalid job payload: ${payload.error.message}`);
    const log = logger.child({ jobId: job.id, generationId: payload.data.generationId });
    const began = Date.now();
    const ended = (outcome: JobOutcome) => metrics.jobEnded(outcome, Date.now() - began);
    try {
      const outcome = await run(deps, job, token, abort ?? new AbortController().signal, payload.data, log);
      if (outcome) ended(outcome);
    } catch (err) {
      ended(endedBy(err));
      if (!isMongoOutage(err) || !token) throw err;
      // Our own database being away is no fault of the generation's: the job waits and runs again
      // without spending an attempt, so it can never be failed for it.
      log.warn(
        { err: (err as Error).message, retryInMs: outageDelayMs },
        'MongoDB is unreachable; the job will run again',
      );
      await job.moveToDelayed(Date.now() + outageDelayMs, token);
      throw new DelayedError();
    }
  };
}

async function run(
  { store, generations, source, lifecycle, runTimes, dbRetryMs }: ProcessorDeps,
  job: Job,
  token: string | undefined,
  signal: AbortSignal,
  { generationId, run }: GenerationJobData,
  log: Logger,
): Promise<JobOutcome | null> {
  const id = new ObjectId(generationId);
  // What follows the end may not have happened yet when a write finds the run already ended: the
  // worker died after its last write, or that write went through while its answer was lost to an
  // outage and the retry found it done. Doing it twice sends one webhook.
  const announceIfEnded = async () => {
    const ended = await generations.find(id);
    if (ended?.run === run && isTerminal(ended.status)) await lifecycle.ended(ended);
  };
  const generation = await store.start(id, run, job.attemptsStarted);
  if (!generation) {
    await announceIfEnded();
    log.info('generation already finished or gone; nothing to do');
    return null;
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
    const completed = await retryWhileOutage(() => generations.complete(generation, image), dbRetryMs);
    log.info(
      { completed: !!completed, provider: image.provider, mime: image.mime_type, bytes: image.bytes.length },
      'generation done',
    );
    if (completed) {
      await lifecycle.ended(completed);
      // For the API's estimate of when pending generations start; a lost sample costs nothing.
      await runTimes.record(Date.now() - started).catch(() => undefined);
      return 'completed';
    }
    await announceIfEnded();
    return null;
  } catch (err) {
    if (signal.aborted && signal.reason === ABORT_REASONS.canceled) {
      // Whoever canceled it wrote the record and announced it; the job simply ends.
      log.info('generation canceled while running');
      return 'canceled';
    }
    if (signal.aborted && signal.reason === ABORT_REASONS.shutdown && token) {
      // Hand the job back without spending an attempt, so another worker takes it at once.
      const released = await store.release(generation);
      if (released) await lifecycle.queued(released).catch(() => undefined);
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    // Our own faults go back to BullMQ, which retries; the worker's failed handler ends the record
    // on the last attempt.
    if (!(err instanceof HfFailure)) throw err;
    const failed = await retryWhileOutage(() => store.fail(id, run, err.message), dbRetryMs);
    log.warn({ err: err.message, status: err.status }, 'generation failed');
    await (failed ? lifecycle.ended(failed) : announceIfEnded());
    throw new UnrecoverableError(err.message);
  }
}

/** How a run that threw ended: handed back (shutdown, MongoDB away), failed by HF, or our fault. */
function endedBy(err: unknown): JobOutcome {
  if (err instanceof DelayedError || isMongoOutage(err)) return 'handed-back';
  return err instanceof UnrecoverableError ? 'failed' : 'error';
}
