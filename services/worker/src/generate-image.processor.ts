import { randomUUID } from 'node:crypto';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { ObjectId } from 'mongodb';
import { GenerationJobData, isTerminal, styledPrompt, type ServingProvider } from '@imagegen/shared';
import {
  isMongoOutage,
  type GenerationDocument,
  type GenerationLifecycle,
  type GenerationStore,
  type Logger,
  type RunTimes,
  type RunUsage,
  type UsageLog,
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
  /** Where each run's end is counted: its outcome, provider, images and time at the provider. */
  usage: Pick<UsageLog, 'record'>;
  /** How long a write after Hugging Face answered is retried while MongoDB is unreachable. */
  dbRetryMs: number;
  /** When a job that met a MongoDB outage runs again. */
  outageDelayMs: number;
}

/**
 * `generation.create`: render the images, move the record to `completed` or `failed`, count the
 * run's usage, and announce each change (live events, webhooks).
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
  { store, generations, source, lifecycle, runTimes, usage, dbRetryMs }: ProcessorDeps,
  job: Job,
  token: string | undefined,
  signal: AbortSignal,
  { generationId, run, rev }: GenerationJobData,
  log: Logger,
): Promise<JobOutcome | null> {
  const id = new ObjectId(generationId);
  // Names this run's completing or failing write, so that its retry after an outage knows the
  // claim it made for its own (GenerationStore); BullMQ's lock token goes on to the worker's next job.
  const writer = randomUUID();
  // What follows the end may not have happened yet when a write finds the run already ended: the
  // worker died after its last write, or that write went through while its answer was lost to an
  // outage and the retry found it done. Doing it twice sends one webhook.
  const announceIfEnded = async (): Promise<GenerationDocument | null> => {
    const ended = await generations.find(id);
    if (ended?.run !== run || !isTerminal(ended.status)) return null;
    await lifecycle.ended(ended);
    return ended;
  };
  const generation = await store.start(id, run, job.attemptsStarted, rev);
  if (!generation) {
    await announceIfEnded();
    log.info('generation already finished or gone; nothing to do');
    return null;
  }
  // Announcing the start must not cost the image: if it cannot be done, the generation goes on. Nor
  // its time: it is made while Hugging Face is asked, and what is announced after it (a retry's
  // notice, the end) waits for it, so the generation's events still say processing first.
  const announced = lifecycle.started(generation).catch((err: unknown) => {
    log.warn({ err: (err as Error).message }, 'could not announce the start');
  });

  let provider: ServingProvider | null = null;
  let providerMs = 0;
  // Counted before the end is announced, so whoever the announcement reaches finds the run counted;
  // a count that cannot be written costs the generation nothing.
  const countRun = (ended: GenerationDocument, outcome: RunUsage['outcome'], images = 0) =>
    usage.record({ generation: ended, outcome, provider, images, providerMs }).catch((err: unknown) => {
      log.warn({ err: (err as Error).message, outcome }, 'could not record the run in usage');
    });
  // A run that lost its record to a cancel (or a failure) ends as that; one another delivery
  // completed is that delivery's to count. A completed record this delivery started was completed
  // by this delivery: an earlier try whose answer an outage cut off, found made by the retry.
  const countLost = async (ended: GenerationDocument | null): Promise<JobOutcome | null> => {
    if (ended?.status === 'canceled' || ended?.status === 'failed') await countRun(ended, ended.status);
    if (ended?.status !== 'completed' || ended.delivery !== job.attemptsStarted) return null;
    await countRun(ended, 'completed', ended.images?.length ?? 1);
    return 'completed';
  };

  const started = Date.now();
  try {
    const rendered = await source
      .render(
        { prompt: styledPrompt(generation.prompt, generation.settings.style), settings: generation.settings },
        {
          signal,
          onRetry: (notice) => {
            log.info(notice, 'waiting before retrying Hugging Face');
            void announced
              .then(() =>
                lifecycle.notice(
                  generationId,
                  `${notice.detail}; retrying in ${seconds(notice.delayMs)}`,
                  notice.delayMs,
                ),
              )
              .catch(() => undefined);
          },
          onProvider: (asked) => (provider = asked),
        },
      )
      .finally(async () => {
        providerMs = Date.now() - started;
        await announced;
      });
    const completed = await retryWhileOutage(() => generations.complete(generation, rendered, writer), dbRetryMs);
    const [first] = rendered.images;
    log.info(
      {
        completed: !!completed,
        provider: rendered.provider,
        images: rendered.images.length,
        // The first image's, as the line gave them when a generation had one.
        mime: first?.mime_type,
        bytes: first?.bytes.length,
      },
      'generation done',
    );
    if (completed) {
      await countRun(completed, 'completed', rendered.images.length);
      await lifecycle.ended(completed);
      // For the API's estimate of when pending generations start; a lost sample costs nothing.
      await runTimes.record(Date.now() - started).catch(() => undefined);
      return 'completed';
    }
    return await countLost(await announceIfEnded());
  } catch (err) {
    if (signal.aborted && signal.reason === ABORT_REASONS.canceled) {
      // Whoever canceled it wrote the record and announced it; the job simply ends. Every request
      // of the render was aborted with it, and nothing was stored.
      log.info('generation canceled while running');
      await countRun(generation, 'canceled');
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
    const failed = await retryWhileOutage(() => store.fail(id, run, err.message, writer), dbRetryMs);
    log.warn({ err: err.message, status: err.status }, 'generation failed');
    if (failed) {
      await countRun(failed, 'failed');
      await lifecycle.ended(failed);
    } else {
      await countLost(await announceIfEnded());
    }
    throw new UnrecoverableError(err.message);
  }
}

/** How a run that threw ended: handed back (shutdown, MongoDB away), failed by HF, or our fault. */
function endedBy(err: unknown): JobOutcome {
  if (err instanceof DelayedError || isMongoOutage(err)) return 'handed-back';
  return err instanceof UnrecoverableError ? 'failed' : 'error';
}
