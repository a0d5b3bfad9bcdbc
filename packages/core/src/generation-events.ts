import type { RedisClient } from './connections';
import type { GenerationEvent, GenerationStatus } from '@imagegen/shared';
import { redisScript } from './redis-script';

export interface StoredEvent {
  /** The Redis stream entry id: increasing, and the SSE `id` a client resumes from. */
  id: string;
  event: GenerationEvent;
  /** The run a status event is of; absent on notices (and on events stored before runs were). */
  run?: number;
}

/** A stream lives a day after its last event; long enough for any client to resume. */
const TTL_SECONDS = 24 * 3600;
/** Events kept per generation; far more than one run makes. */
const MAX_EVENTS = 500;

/**
 * Appends the event's fields (ARGV[5]…) to the stream KEYS[1], trimmed to about ARGV[1] entries,
 * sets its TTL (ARGV[2]) and tells channel ARGV[3] the generation (ARGV[4]): as a MULTI would,
 * atomically, but as one command. A MULTI on a connection BullMQ shares costs a copy of its dozens
 * of scripts; one command does not, so the events can share the jobs' connection (PendingRuns).
 */
const APPEND_SCRIPT = `
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])`;

/**
 * Each generation's events, in a Redis stream of its own, written by whichever process changes the
 * generation (API or worker), with a notice on one pub/sub channel so that every API instance
 * streaming it reads the new entries. The stream makes `Last-Event-ID` resumption exact.
 */
export class GenerationEvents {
  readonly channel: string;
  private readonly appendScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.channel = `${prefix}:generation-events`;
    this.appendScript = redisScript<null>(redis, 'imagegenAppendEvent', APPEND_SCRIPT, 1);
  }

  /**
   * `run`: the run a status event is of, so that a new connection can start at the current one.
   * The command is sent before this returns (PendingRuns counts on it).
   */
  async append(generationId: string, event: GenerationEvent, run?: number): Promise<void> {
    // Whatever the caller passed (a whole summary, say): never the history.
    const stored = event.type === 'status' ? { ...event, generation: withoutHistory(event.generation) } : event;
    const fields = ['event', JSON.stringify(stored), ...(run === undefined ? [] : ['run', String(run)])];
    await this.appendScript(this.key(generationId), MAX_EVENTS, TTL_SECONDS, this.channel, generationId, ...fields);
  }

  /** The events after `lastId` (from the start without one), oldest first; at most `count` when given. */
  async after(generationId: string, lastId?: string, count?: number): Promise<StoredEvent[]> {
    const key = this.key(generationId);
    const start = lastId ? `(${lastId}` : '-';
    const entries =
      count === undefined
        ? await this.redis.xrange(key, start, '+')
        : await this.redis.xrange(key, start, '+', 'COUNT', count);
    return entries.map(toStored);
  }

  /**
   * The id to read `after` for the events of `run` and later: just before its first status. Read
   * backwards from the newest entry, `pageSize` at a time, down to the status of an earlier run,
   * so that what a connection reads does not grow with the runs before. Without a status of the
   * run (its events expired or lost), the newest id: what comes next is still read, nothing older.
   */
  async runStart(generationId: string, run: number, pageSize: number): Promise<string | undefined> {
    const key = this.key(generationId);
    let newest: string | undefined;
    let first: string | undefined;
    let end = '+';
    for (;;) {
      const page = await this.redis.xrevrange(key, end, '-', 'COUNT', pageSize);
      for (const entry of page) {
        const stored = toStored(entry);
        newest ??= stored.id;
        if (stored.event.type !== 'status') continue;
        // Status events stored before runs were are of the first run.
        if ((stored.run ?? 1) < run) return first ? justBefore(first) : newest;
        first = stored.id;
      }
      const last = page.at(-1);
      if (page.length < pageSize || !last) return first ? justBefore(first) : newest;
      end = `(${last[0]}`;
    }
  }

  /**
   * The status of the newest status event among the generation's last `count` events; undefined
   * when they hold none (notices only, or no stream: expired, deleted, or never announced).
   */
  async latestStatus(generationId: string, count: number): Promise<GenerationStatus | undefined> {
    const entries = await this.redis.xrevrange(this.key(generationId), '+', '-', 'COUNT', count);
    for (const entry of entries) {
      const { event } = toStored(entry);
      if (event.type === 'status') return event.status;
    }
    return undefined;
  }

  /** The event of this id, if the stream still has it. */
  async get(generationId: string, eventId: string): Promise<GenerationEvent | null> {
    const [entry] = await this.redis.xrange(this.key(generationId), eventId, eventId);
    return entry ? toStored(entry).event : null;
  }

  /** Drops the streams of these generations (deleted ones): nothing of their events remains. */
  async remove(generationIds: string[]): Promise<void> {
    if (generationIds.length === 0) return;
    await this.redis.del(...generationIds.map((id) => this.key(id)));
  }

  private key(generationId: string): string {
    return `${this.prefix}:generation-events:${generationId}`;
  }
}

function toStored([id, fields]: [string, string[]]): StoredEvent {
  const value = (name: string) => {
    const at = fields.indexOf(name);
    return at % 2 === 0 ? fields[at + 1] : undefined;
  };
  const run = value('run');
  return {
    id,
    event: JSON.parse(value('event') ?? 'null') as GenerationEvent,
    ...(run !== undefined && { run: Number(run) }),
  };
}

function withoutHistory<T extends object>(generation: T): Omit<T, 'history'> {
  const { history: _history, ...rest } = generation as T & { history?: unknown };
  return rest;
}

/** The stream id right before `id`, so that reading after it starts at `id` itself. */
function justBefore(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  if (BigInt(seq) > 0n) return `${ms}-${BigInt(seq) - 1n}`;
  return BigInt(ms) > 0n ? `${BigInt(ms) - 1n}-18446744073709551615` : '0-0';
}
