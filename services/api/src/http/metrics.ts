import type { Queue } from 'bullmq';
import express from 'express';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { JOB_STATES } from '../infra/job-states';
import { labelRoute, routeLabelOf } from './route-label';

/**
 * The API's Prometheus metrics: its HTTP answers, and the depth of every queue per state (read
 * from Redis when scraped, so that any one API instance reports the shared queues).
 */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly httpSeconds = new Histogram({
    name: 'imagegen_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  constructor(queues: Queue[]) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'imagegen_queue_jobs',
      help: 'Jobs in each queue by state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        // Redis away: the depths are left out of this scrape rather than failing the others.
        const counts = await Promise.all(queues.map((queue) => queue.getJobCounts(...JOB_STATES))).catch(() => null);
        if (!counts) return;
        queues.forEach((queue, i) => {
          for (const state of JOB_STATES) this.set({ queue: queue.name, state }, counts[i]?.[state] ?? 0);
        });
      },
    });
  }

  /**
   * Times every answer, labelled by the pattern its route declared (`/api/generations/:id`, see
   * `labelRoute`) or `unmatched`: never by any part of the path the request came in on, so no
   * request makes a series.
   */
  timing(): express.RequestHandler {
    return (req, res, next) => {
      const end = this.httpSeconds.startTimer();
      res.once('finish', () => {
        const route = routeLabelOf(res) ?? 'unmatched';
        end({ method: req.method, route, status_code: String(res.statusCode) });
      });
      next();
    };
  }

  /** `GET /metrics`, in Prometheus's text format. */
  routes(): express.Router {
    const router = express.Router();
    router.get('/metrics', labelRoute('/metrics'), async (_req, res) => {
      res.type(this.registry.contentType).send(await this.registry.metrics());
    });
    return router;
  }
}
