import type { RedisClient } from '@imagegen/core';
import type { ObjectId } from 'mongodb';
import { imagesAsked, isTerminal, type QueuePlace } from '@imagegen/shared';
import {
  QUOTA_LUA,
  RESERVE_LUA,
  chargeOf,
  redisScript,
  type InFlightGenerations,
  type QuotaBlock,
  type QuotaLedger,
} from '@imagegen/core';
import { RateLimitedError, ServiceUnavailableError } from '../errors';
import { QUEUE_NOW_LUA, type QueueNow, type QueueStandings } from '../infra/queue-standing';
import type { MissingAnswer, QuotaGate } from '../usage/quota-gate';
import { quotaRefusal } from '../usage/quota-refusal';
import type { GenerationRepository } from './generation.repository';

/** How old (by its id) a generation in a user's in-flight set must be for its record to surely exist. */
const SETTLED_AFTER_MS = 60_000;

/** What ADMIT_SCRIPT answers for the cap when no generation was to be reserved a place. */
const NOT_TRIED = -2;

/**
 * Admits a create or a retry in one round trip, where a quota, a rate limiter, the cap and the
 * place took one each:
 * 1. With images to count (ARGV[5] > 0), reads the user's image quotas (`quotaState`, KEYS[6..7],
 *    ARGV[7..13]; `missing` when a hash must be rebuilt first) and refuses what would go past one.
 * 2. With a rate (ARGV[2] not empty), counts one create in the user's fixed window (KEYS[1]:
 *    created with the window's expiry, ARGV[1] s, by the first create in it) and refuses past it.
 * 3. Charges the images to the quotas under the charge ARGV[6] (`<generation>:<run>`).
 * 4. For a generation (ARGV[3]), reserves it a place in the user's in-flight set (KEYS[2], cap
 *    ARGV[4]) and reads the generations queue (KEYS[3..5], `queueNow`) for the place its job will take.
 * A refusal changes nothing before it: a create past its quota does not spend the rate.
 */
const ADMIT_SCRIPT = `${RESERVE_LUA}${QUEUE_NOW_LUA}${QUOTA_LUA}
local images = tonumber(ARGV[5])
local quota
if images > 0 then
  quota = quotaState(KEYS[6], KEYS[7], ARGV, 7)
  if quota[1] ~= 'ok' then return quota end
  local over = quotaOver(quota, images)
  if over then return over end
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
  local counted = redis.call('INCR', KEYS[1])
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl == -1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    ttl = 1000 * ARGV[1]
  end
  if counted > tonumber(ARGV[2]) then return {'rate', counted, ttl} end
end
if images > 0 then
  quotaCharge(KEYS[6], quota[3], ARGV[6], images)
  quotaCharge(KEYS[7], quota[5], ARGV[6], images)
end
if ARGV[3] == '' then return {'ok', ${NOT_TRIED}} end
return {'ok', reserve(KEYS[2], ARGV[3], tonumber(ARGV[4])), queueNow(KEYS[3], KEYS[4], KEYS[5])}`;

/** Let through: what `reserve` answered (or NOT_TRIED) and, for a generation, the queue. */
type Admitted = ['ok', reserved: number, queue?: QueueNow];

type AdmitAnswer =
  MissingAnswer | Admitted | ['rate', counted: number, msLeft: number] | ['day' | 'month', used: number, limit: number];

/** A create let through the rate. */
export interface Admission {
  /** The generation holds its place under the cap; if false, the user was at the cap (`reserveAtCap`). */
  reserved: boolean;
  /** Where its job will wait, as the queue was just before it is added. */
  place: QueuePlace;
  /**
   * Past an image quota: the 429 to answer, unless the create turns out to be a replay (which a
   * quota does not refuse, as the cap does not). Nothing was charged or reserved then.
   */
  refused: RateLimitedError | null;
}

export interface CreateLimitPolicy {
  /** Creates a user may make per window. */
  perWindow: number;
  windowSeconds: number;
  /** Generations of a user that may be pending or processing at once. */
  maxInFlight: number;
}

/** One run of ADMIT_SCRIPT: what it counts, and against what. */
interface AdmitRequest {
  /** Counted against the rate: a user's create or retry (an admin's retry is not). */
  rated: boolean;
  /** The generation to reserve a place for in flight, if any. */
  generationId?: ObjectId;
  /** Images charged to the quotas under `charge`; 0 counts none. */
  images: number;
  charge: string;
}

/**
 * Per-user limits on creating generations, all kept in Redis so that they hold across API
 * instances: image quotas per day and month (QuotaLedger), a rate, and a cap on generations in
 * flight (InFlightGenerations).
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
    private readonly quotas: QuotaGate,
    private readonly ledger: QuotaLedger,
  ) {
    this.admitScript = redisScript<AdmitAnswer>(redis, 'imagegenAdmitCreate', ADMIT_SCRIPT, 7);
  }

  /**
   * Counts a create of `images` images against the user's quotas and rate (a 429 with Retry-After
   * when the rate is spent; a quota's refusal is handed back in `refused`), and reserves
   * `generationId` its place under the cap. Not reserved when the user was at the cap:
   * `reserveAtCap` then decides, unless the create turns out to be a replay, which the cap does not
   * refuse.
   */
  async admit(userId: ObjectId, generationId: ObjectId, images: number): Promise<Admission> {
    const answer = await this.run(userId, { rated: true, generationId, images, charge: chargeOf(generationId, 1) });
    if (answer instanceof RateLimitedError) {
      return { reserved: false, place: this.standings.placeOfNew([0, 0, []]), refused: answer };
    }
    const [, reserved, queue] = answer;
    return { reserved: reserved === -1, place: this.standings.placeOfNew(queue ?? [0, 0, []]), refused: null };
  }

  /** Counts one create against the user's rate; a 429 with Retry-After when it is spent. */
  async consume(userId: ObjectId): Promise<void> {
    await this.run(userId, { rated: true, images: 0, charge: '' });
  }

  /**
   * Counts a retried generation's new run (its record just reopened) against its owner's cap on
   * generations in flight and image quotas, or refuses it (429) when the user already has as many
   * pending or processing as allowed, or the run's images would go past a quota.
   */
  async reserveInFlight(userId: ObjectId, generationId: ObjectId): Promise<void> {
    const record = await this.generations.findById(generationId);
    // Ended meanwhile (canceled at once): nothing of it is left to charge.
    const images = record && !isTerminal(record.status) ? imagesAsked(record.settings) : 0;
    const charge = record ? chargeOf(generationId, record.run) : '';
    const answer = await this.run(userId, { rated: false, generationId, images, charge });
    if (answer instanceof RateLimitedError) throw answer;
    if (answer[1] !== -1) {
      try {
        await this.reserveAtCap(userId, generationId);
      } catch (err) {
        await this.ledger.release(userId, charge, new Date());
        throw err;
      }
    }
    // Unlike a create's, this charge comes after the record is open: a cancel in between gave
    // back what was not there yet, so it is given back here.
    if (images > 0 && (await this.ended(generationId))) await this.ledger.release(userId, charge, new Date());
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

  /**
   * Takes back what was counted for a run that was not made after all: its place in flight, and
   * its images, unless its record says it is going ahead (a create's run is its first; a retry's,
   * the one its record, put back as it was, still names).
   */
  async release(userId: ObjectId, generationId: ObjectId): Promise<void> {
    const record = await this.generations.findById(generationId);
    const goingAhead = record !== null && !['failed', 'canceled'].includes(record.status);
    await Promise.all([
      this.inFlight.remove(userId, generationId),
      goingAhead ? null : this.ledger.release(userId, chargeOf(generationId, record?.run ?? 1), new Date()),
    ]);
  }

  /** Whether the generation ended failed or canceled. */
  private async ended(generationId: ObjectId): Promise<boolean> {
    const status = (await this.generations.statusesOf([generationId])).get(generationId.toHexString());
    return status === 'failed' || status === 'canceled';
  }

  /**
   * Runs ADMIT_SCRIPT, rebuilding the quotas' hashes it finds missing: its answer, or the 429 of a
   * quota it would go past. Past the rate, throws that 429.
   */
  private async run(userId: ObjectId, request: AdmitRequest): Promise<Admitted | RateLimitedError> {
    const { answer, block } = await this.quotas.run<Exclude<AdmitAnswer, MissingAnswer>>(userId, (quota) =>
      this.admitOnce(userId, request, quota),
    );
    if (answer[0] === 'ok') return answer;
    if (answer[0] === 'rate') {
      const { perWindow, windowSeconds } = this.policy;
      throw new RateLimitedError(
        `Too many generations requested: at most ${perWindow} every ${windowSeconds} s`,
        Math.max(1, Math.ceil(answer[2] / 1000)),
      );
    }
    const [kind, used, limit] = answer;
    return quotaRefusal(block.periods[kind], used, limit, request.images);
  }

  private async admitOnce(userId: ObjectId, request: AdmitRequest, quota: QuotaBlock): Promise<AdmitAnswer> {
    const { perWindow, windowSeconds, maxInFlight } = this.policy;
    try {
      // Fail at once while Redis is away (the error becomes a 503), as the job queue does.
      if (this.redis.status !== 'ready') throw new Error(`Redis ${this.redis.status}`);
      return await this.admitScript(
        `${this.prefix}:create-rate:${userId.toHexString()}`,
        this.inFlight.key(userId),
        ...this.standings.queueNowKeys,
        ...quota.keys,
        windowSeconds,
        request.rated ? perWindow : '',
        request.generationId?.toHexString() ?? '',
        maxInFlight,
        request.images,
        request.charge,
        ...quota.args,
      );
    } catch (err) {
      throw new ServiceUnavailableError('Requests cannot be counted right now (Redis unavailable); retry shortly', err);
    }
  }
}
