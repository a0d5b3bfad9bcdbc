import { Counter, Gauge, type Registry } from 'prom-client';
import { ServiceUnavailableError } from '../errors';

export interface HashQueueLimits {
  /** Password hashes computed at once (each holds a libuv thread and 128 MiB for ~0.7 s). */
  concurrency: number;
  /** Hashes that may wait for a turn; past that they are refused at once. */
  queue: number;
}

/**
 * The one way to scrypt in a request. Hashes run at most `concurrency` at a time on the libuv
 * pool, so file and DNS work (which share the pool) still get threads, and memory stays bounded;
 * at most `queue` wait their turn, and past that a request is refused at once with a 503 and
 * Retry-After rather than queued for ever: a client that can send registrations or sign-ins
 * faster than they are hashed cannot make everyone else's sign-in wait without bound.
 */
export class HashQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private mostRunning = 0;
  private mostWaiting = 0;
  private readonly refusals: Counter;

  constructor(
    private readonly limits: HashQueueLimits,
    registry: Registry,
  ) {
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    gauge('imagegen_password_hashes_running', 'Password hashes being computed', () => this.running);
    gauge('imagegen_password_hashes_waiting', 'Password hashes waiting for a turn', () => this.waiting.length);
    gauge('imagegen_password_hashes_running_max', 'Most password hashes computed at once', () => this.mostRunning);
    gauge('imagegen_password_hashes_waiting_max', 'Most password hashes waiting at once', () => this.mostWaiting);
    this.refusals = new Counter({
      name: 'imagegen_password_hashes_refused_total',
      help: 'Requests refused with 503 because the password hashing queue was full',
      registers: [registry],
    });
  }

  /** True while a hash asked for now would be refused: what /readyz reports. */
  get saturated(): boolean {
    return this.running >= this.limits.concurrency && this.waiting.length >= this.limits.queue;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.limits.concurrency) return this.start(work);
    if (this.waiting.length >= this.limits.queue) {
      this.refusals.inc();
      return Promise.reject(new ServiceUnavailableError('Too many sign-ins and registrations at once; retry shortly'));
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => void this.start(work).then(resolve, reject));
      this.mostWaiting = Math.max(this.mostWaiting, this.waiting.length);
    });
  }

  private start<T>(work: () => Promise<T>): Promise<T> {
    this.running++;
    this.mostRunning = Math.max(this.mostRunning, this.running);
    let result: Promise<T>;
    try {
      result = work();
    } catch (err) {
      result = Promise.reject(err);
    }
    return result.finally(() => {
      this.running--;
      this.waiting.shift()?.();
    });
  }
}
