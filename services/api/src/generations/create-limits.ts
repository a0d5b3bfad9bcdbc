import type { RedisClient } from '@imagegen/core';
import type { ObjectId } from 'mongodb';
import { isTerminal, type QueuePlace } from '@imagegen/shared';
import { RESERVE_LUA, redisScript, type InFlightGenerations } from '@imagegen/core';
import { RateLimitedError, ServiceUnavailableError } from '../errors';
import { QUEUE_NOW_LUA, type QueueNow, type QueueStandings } from '../infra/queue-standing';
import type { GenerationRepository } from './generation.repository';

/** How old (by its id) a generation in a user's in-flight set must be for its record to surely exist. */
const SETTLED_AFTER_MS = 60_000;

/** What ADMIT_SCRIPT answers for the cap when it did not look at it: the rate refused, or none asked. */
const NOT_TRIED = -2;

/**
 * Counts one create in the user's fixed window (KEYS[1]: created with the window's expiry by the
 * first create in it) and, unless that is over the rate, reserves the generation ARGV[3] (none
 * when empty) a place in the user's in-flight set (KEYS[2]) and reads the generations queue
 * (KEYS[3..5], `queueNow`) for the place its job will take: one round trip where a rate limiter,
 * the cap and the place took one each. ARGV: window (s), creates per window, generation, cap.
 * Answers the creates counted, the window's ms left, `reserve`'s answer (or NOT_TRIED) and, for a
 * generation, the queue.
 */
const ADMIT_SCRIPT = `${RESERVE_LUA}${QUEUE_NOW_LUA}
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
local counted = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = 1000 * ARGV[1]
end
if counted > tonumber(ARGV[2]) or ARGV[3] == '' then return {counted, ttl, ${NOT_TRIED}} end
return {counted, ttl, reserve(KEYS[2], ARGV[3], tonumber(ARGV[4])), queueNow(KEYS[3], KEYS[4], KEYS[5])}`;

/** A create let through the rate. */
export interface Admission {
  /** The generation holds its place under the cap; if false, the user was at the cap (`reserveAtCap`). */
  reserved: boolean;
  /** Where its job will wait, as the queue was just before it is added. */
  place: QueuePlace;
}

export interface CreateLimitPolicy {
  /** Creates a user may make per window. */
  perWindow: number;
  windowSeconds: number;
  /** Generations of a user that may be pending or processing at once. */
  maxInFlight: number;
}

/**
 * Per-user limits on creating generations, both kept in Redis so that they hold across API
 * instances: a rate, and a cap on generations in flight (InFlightGenerations).
 */
export class CreateLimits {
  private readonly admitScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly generations: GenerationRepository,
    private readonly inFlight: InFlightGenerations,
    private readonly standings: QueueStandings,
    private readonly policy: CreateLimitPolicy,
  ) {
    this.admitScript = redisScript<AdmitAnswer>(redis, 'imagegenAdmitCreate', ADMIT_SCRIPT, 5);
  }

  /**
   * Counts a create against the user's rate (a 429 with Retry-After when it is spent) and reserves
   * `generationId` its place under the cap. Not reserved when the user was at the cap:
   * `reserveAtCap` then decides, unless the create turns out to be a replay, which the cap does not
   * refuse.
   */
  async admit(userId: ObjectId, generationId: ObjectId): Promise<Admission> {
    const [reserved, queue] = await this.count(userId, generationId);
    return { reserved: reserved === -1, place: this.standings.placeOfNew(queue ?? [0, 0, []]) };
  }

  /** Counts one create against the user's rate; a 429 with Retry-After when it is spent. */
  async consume(userId: ObjectId): Promise<void> {
    await this.count(userId);
  }

  /**
   * Counts the new generation against the user's cap on generations in flight, or refuses it (429)
   * when the user already has as many pending or processing as allowed.
   */
  async reserveInFlight(userId: ObjectId, generationId: ObjectId): Promise<void> {
    if ((await this.inFlight.reserve(userId, generationId, this.policy.maxInFlight)) === null) return;
    await this.reserveAtCap(userId, generationId);
  }

  /**
   * A reservation the set refused, tried again once the members that ended are out. A worker takes
   * an ended generation out of the set just after writing its end (or never, if it stopped in
   * between), and a user who has seen it end may create the next at once: so the members' records
   * are read. A member with no record is a create still writing it, unless it is too old to be one.
   */
  async reserveAtCap(userId: ObjectId, generationId: ObjectId): Promise<void> {
    const settled = Date.now() - SETTLED_AFTER_MS;
    const members = await this.inFlight.members(userId);
    const statuses = await this.generations.statusesOf(members);
    const gone = members.filter((id) => {
      const status = statuses.get(id.toHexString());
      return status ? isTerminal(status) : id.getTimestamp().getTime() < settled;
    });
    await this.inFlight.remove(userId, ...gone);
    const size = await this.inFlight.reserve(userId, generationId, this.policy.maxInFlight);
    if (size !== null) {
      throw new RateLimitedError(
        `You have ${size} generations pending or processing, the most allowed; wait for one to end`,
        5,
      );
    }
  }

  /** Takes back a reservation whose generation was not created after all. */
  async release(userId: ObjectId, generationId: ObjectId): Promise<void> {
    await this.inFlight.remove(userId, generationId);
  }

  /** Runs ADMIT_SCRIPT; what it answered for the cap and the queue. */
  private async count(userId: ObjectId, generationId?: ObjectId): Promise<[number, QueueNow?]> {
    const { perWindow, windowSeconds, maxInFlight } = this.policy;
    let answer: AdmitAnswer;
    try {
      // Fail at once while Redis is away (the error becomes a 503), as the job queue does.
      if (this.redis.status !== 'ready') throw new Error(`Redis ${this.redis.status}`);
      answer = await this.admitScript(
        `${this.prefix}:create-rate:${userId.toHexString()}`,
        this.inFlight.key(userId),
        ...this.standings.queueNowKeys,
        windowSeconds,
        perWindow,
        generationId?.toHexString() ?? '',
        maxInFlight,
      );
    } catch (err) {
      throw new ServiceUnavailableError('Requests cannot be counted right now (Redis unavailable); retry shortly', err);
    }
    const [counted, msLeft, reserved, queue] = answer;
    if (counted > perWindow) {
      throw new RateLimitedError(
        `Too many generations requested: at most ${perWindow} every ${windowSeconds} s`,
        Math.max(1, Math.ceil(msLeft / 1000)),
      );
    }
    return [reserved, queue];
  }
}

type AdmitAnswer = [counted: number, msLeft: number, reserved: number, queue?: QueueNow];
