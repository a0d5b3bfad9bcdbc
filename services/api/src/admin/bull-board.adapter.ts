import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import { Router, type Express, type Request, type RequestHandler, type Response } from 'express';
import { holdClose } from '../http/graceful-close';

// bull-board's private API, behind one module: the paths its UI calls and our dashboard takes
// over are named here and nowhere else. `bull-board.adapter.test.ts` fails when an upgrade of
// bull-board stops serving any of them.

/** Where bull-board serves its JSON API, under the dashboard's base path. */
export const BOARD_API_PATH = '/api';

/** True for a request to bull-board's JSON API (which answers errors, never redirects). */
export const isBoardApiRequest = (req: Request) => req.path.startsWith(`${BOARD_API_PATH}/`);

type Action = (res: Response, next: (route?: 'route') => void) => unknown;
type JobAction = (jobId: string, res: Response, next: (route?: 'route') => void) => unknown;
type StatusAction = (status: string, res: Response, next: (route?: 'route') => void) => unknown;

/** What the dashboard does, in place of bull-board, for actions on one queue; `next()` leaves it to bull-board. */
export interface QueueActionOverrides {
  retryAll: StatusAction;
  retryJob: JobAction;
  cleanAll: StatusAction;
  cleanJob: JobAction;
  /** Emptying and obliterating the queue. */
  empty: Action;
  addJob: Action;
  updateJobData: JobAction;
}

/**
 * Routes that take bull-board's actions on the queue `queueName` before bull-board sees them.
 * Matched on the decoded queue name, as bull-board matches it: a literal path would let
 * `generation%73` slip past to bull-board.
 */
export function queueActionRoutes(queueName: string, take: QueueActionOverrides): Router {
  const router = Router({ mergeParams: true });
  router.use((req, _res, next) => next(req.params.queueName === queueName ? undefined : 'router'));
  // Held as the API's own routes are (`holdClose`): a retry writes MongoDB and then Redis.
  const held = (res: Response, action: () => unknown) => holdClose(res, async () => action());
  router.put('/retry/:status', (req, res, next) => held(res, () => take.retryAll(req.params.status, res, next)));
  router.put('/:jobId/retry', (req, res, next) => held(res, () => take.retryJob(req.params.jobId, res, next)));
  router.put('/clean/:status', (req, res, next) => held(res, () => take.cleanAll(req.params.status, res, next)));
  router.put('/:jobId/clean', (req, res, next) => held(res, () => take.cleanJob(req.params.jobId, res, next)));
  router.put(['/empty', '/obliterate'], (_req, res, next) => held(res, () => take.empty(res, next)));
  router.post('/add', (_req, res, next) => held(res, () => take.addJob(res, next)));
  router.patch('/:jobId/update-data', (req, res, next) =>
    held(res, () => take.updateJobData(req.params.jobId, res, next)),
  );
  return Router().use(`${BOARD_API_PATH}/queues/:queueName`, router);
}

/** Answers as bull-board's own API does, so its UI shows the reason. */
export function refuseAsBoard(res: Response, status: number, message: string): void {
  res.status(status).json({ success: false, error: message, message });
}

export interface BoardOptions {
  basePath: string;
  queues: Queue[];
  readOnly: boolean;
  title: string;
  logoutUrl: string;
}

/** bull-board's UI and API over the queues, as a handler to mount at `basePath`. */
export function bullBoard(options: BoardOptions): RequestHandler {
  const serverAdapter = new ExpressAdapter().setBasePath(options.basePath);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: options.readOnly })),
    serverAdapter,
    options: { uiConfig: { boardTitle: options.title, miscLinks: [{ text: 'Log out', url: options.logoutUrl }] } },
  });
  // bull-board's "router" is an Express app of its own, which names its framework in every answer
  // (X-Powered-By) unless told not to: ours being told does not reach it.
  const board = serverAdapter.getRouter() as Express;
  board.disable('x-powered-by');
  return board as RequestHandler;
}
