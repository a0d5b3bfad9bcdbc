import type { ObjectId } from 'mongodb';
import type { RedisClient } from '../connections';
import type { GenerationDocument } from '../db';
import { redisScript, type ScriptArgs } from '../redis-script';
import { periodsOf, type QuotaPeriod } from './quota-periods';

/**
 * How far from the run's start its charge may have been made: a create is counted before its
 * record is written (a webhook's DNS lookup in between), a retry just after its reopen. A release
 * looks in the periods of the start and of this long before and after it.
 */
const CHARGED_WITHIN_MS = 3_600_000;

/** A period's hash outlives the period by this much, so that clocks a little apart still find it. */
const KEPT_AFTER_MS = 3_600_000;

/**
 * Lua for the scripts that count images against quotas (the API's admission of a create or a
 * retry, the quota's state). Each user has one hash per UTC day and one per UTC month, under the
 * prefix (so, on a cluster, in the slot of every other key a script of ours joins):
 * - `used`: images charged in the period. Present once the period is counted; it is counted from
 *   the first time it has a limit (or its state is asked for) to its end, so that it is never
 *   behind when a limit is set later in it.
 * - `<generation id>:<run>` → images: each charge still held by a run that may yet fail. A run
 *   that fails or is canceled gives its images back (`release`): HDEL answers once per field, so
 *   of any number of callers exactly one gives them back.
 * - The day's hash also keeps the user's overrides of the limits, `ld` and `lm` (empty: the
 *   default), read from the user's record when the hash is made and written by the admin's PATCH.
 * A hash or field that is missing (a new period, Redis restarted) is rebuilt from MongoDB by the
 * caller, which passes it back as a seed: the script answers `missing` until it has what it needs.
 */
export const QUOTA_LUA = `
local function quotaSeed(key, seed, expireAt)
  if seed == '' then return end
  local s = cjson.decode(seed)
  if s.limits and redis.call('HEXISTS', key, 'ld') == 0 then
    redis.call('HSET', key, 'ld', s.limits[1], 'lm', s.limits[2])
  end
  if s.used and redis.call('HEXISTS', key, 'used') == 0 then
    redis.call('HSET', key, 'used', s.used)
    for field, n in pairs(s.charges) do redis.call('HSET', key, field, n) end
  end
  redis.call('EXPIREAT', key, expireAt)
end

local function quotaLimit(override, default)
  if override ~= '' then return tonumber(override) end
  if default ~= '' then return tonumber(default) end
  return -1
end

-- ARGV[i..i+6]: default day and month limits ('' none), the hashes' expiry times, their seeds
-- ('' none), and '1' to have both counted whatever their limits. Answers
-- {'ok', day limit, day used, month limit, month used} (-1: none, or not counted), or
-- {'missing', limits known, day limit, month limit, day counted, month counted}.
local function quotaState(dayKey, monthKey, a, i)
  quotaSeed(dayKey, a[i + 4], a[i + 2])
  quotaSeed(monthKey, a[i + 5], a[i + 3])
  local day = redis.call('HMGET', dayKey, 'ld', 'lm', 'used')
  local monthUsed = redis.call('HGET', monthKey, 'used')
  local dayCounted = day[3] and 1 or 0
  local monthCounted = monthUsed and 1 or 0
  if not day[1] then return {'missing', 0, -1, -1, dayCounted, monthCounted} end
  local dayLimit = quotaLimit(day[1], a[i])
  local monthLimit = quotaLimit(day[2], a[i + 1])
  local all = a[i + 6] == '1'
  if ((dayLimit >= 0 or all) and dayCounted == 0) or ((monthLimit >= 0 or all) and monthCounted == 0) then
    return {'missing', 1, dayLimit, monthLimit, dayCounted, monthCounted}
  end
  return {'ok', dayLimit, tonumber(day[3] or -1), monthLimit, tonumber(monthUsed or -1)}
end

-- The quota n more images would go past, as {'month' or 'day', used, limit}; the month's first,
-- since a new day does not help a user past it.
local function quotaOver(state, n)
  if state[4] >= 0 and state[5] + n > state[4] then return {'month', state[5], state[4]} end
  if state[2] >= 0 and state[3] + n > state[2] then return {'day', state[3], state[2]} end
  return false
end

-- Charges n images to a counted period (used >= 0), once per charge field.
local function quotaCharge(key, used, field, n)
  if used >= 0 and redis.call('HSETNX', key, field, n) == 1 then redis.call('HINCRBY', key, 'used', n) end
end`;

/** Answers the quota's state (`quotaState`): KEYS the day's and the month's hashes, ARGV its block. */
const STATE_SCRIPT = `${QUOTA_LUA}
return quotaState(KEYS[1], KEYS[2], ARGV, 1)`;

/** Gives back the charge ARGV[1] from whichever of the hashes KEYS hold it; answers the images given back. */
const RELEASE_SCRIPT = `
local given = 0
for _, key in ipairs(KEYS) do
  local n = redis.call('HGET', key, ARGV[1])
  if n then
    redis.call('HDEL', key, ARGV[1])
    redis.call('HINCRBY', key, 'used', -tonumber(n))
    given = given + tonumber(n)
  end
end
return given`;

/** Writes the user's overrides (ARGV[1], ARGV[2]; empty: the default) into the day's hash KEYS[1], expiring at ARGV[3]. */
const OVERRIDES_SCRIPT = `
redis.call('HSET', KEYS[1], 'ld', ARGV[1], 'lm', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])`;

/** A user's limits as the quota applies them; null: none. */
export interface QuotaLimits {
  day: number | null;
  month: number | null;
}

/** A period's hash as it is rebuilt from the records: images charged, and the charges runs still in flight hold. */
export interface PeriodCount {
  used: number;
  charges: Record<string, number>;
}

/** What a script is passed to rebuild a missing hash: the day's with the user's overrides, or the counts. */
export interface QuotaSeeds {
  /** The user's overrides (not the limits applied): the day's hash keeps them. */
  overrides?: QuotaLimits;
  day?: PeriodCount;
  month?: PeriodCount;
}

/** The keys and ARGV block of `quotaState` for one user at one time. */
export interface QuotaBlock {
  periods: Record<'day' | 'month', QuotaPeriod>;
  keys: [day: string, month: string];
  args: ScriptArgs;
}

/** `quotaState`'s answer. */
export type QuotaStateAnswer =
  | ['ok', dayLimit: number, dayUsed: number, monthLimit: number, monthUsed: number]
  | ['missing', limitsKnown: 0 | 1, dayLimit: number, monthLimit: number, dayCounted: 0 | 1, monthCounted: 0 | 1];

/** The charge a run holds: `<generation id>:<run>`. */
export const chargeOf = (generationId: ObjectId, run: number): string => `${generationId.toHexString()}:${run}`;

/** When the generation's current run began: its retry, or its creation. */
export const runStartedAt = (generation: GenerationDocument): Date =>
  generation.history.at(-1)?.retried_at ?? generation.created_at;

const limitArg = (limit: number | null) => (limit === null ? '' : String(limit));
const expiryOf = (period: QuotaPeriod) => Math.ceil((period.end.getTime() + KEPT_AFTER_MS) / 1000);

/**
 * The images each user was charged per UTC day and month, in Redis (see QUOTA_LUA), which every
 * API instance counts creates against atomically. MongoDB stays the truth it is rebuilt from.
 * Both services give back what failed runs were charged (`giveBack`, from the lifecycle).
 */
export class QuotaLedger {
  private readonly stateScript;
  private readonly releaseScript;
  private readonly overridesScript;

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.stateScript = redisScript<QuotaStateAnswer>(redis, 'imagegenQuotaState', STATE_SCRIPT, 2);
    this.releaseScript = redisScript<number>(redis, 'imagegenQuotaRelease', RELEASE_SCRIPT);
    this.overridesScript = redisScript<null>(redis, 'imagegenQuotaOverrides', OVERRIDES_SCRIPT, 1);
  }

  /** The user's hash of a period. */
  key(userId: ObjectId, period: QuotaPeriod): string {
    return `${this.prefix}:quota:${userId.toHexString()}:${period.id}`;
  }

  /**
   * The keys and ARGV of `quotaState` at `now`. `defaults`: this instance's limits where the user
   * has no override; `all`: both periods counted whatever their limits (to read their state).
   */
  block(userId: ObjectId, now: Date, defaults: QuotaLimits, seeds: QuotaSeeds = {}, all = false): QuotaBlock {
    const periods = periodsOf(now);
    const { overrides, day, month } = seeds;
    const daySeed =
      overrides || day
        ? { ...(overrides && { limits: [overrides.day, overrides.month].map(limitArg) }), ...day }
        : null;
    return {
      periods,
      keys: [this.key(userId, periods.day), this.key(userId, periods.month)],
      args: [
        limitArg(defaults.day),
        limitArg(defaults.month),
        expiryOf(periods.day),
        expiryOf(periods.month),
        daySeed ? JSON.stringify(daySeed) : '',
        month ? JSON.stringify(month) : '',
        all ? '1' : '',
      ],
    };
  }

  /** Runs `quotaState` alone: the limits and what is used, or what is missing. */
  state(block: QuotaBlock): Promise<QuotaStateAnswer> {
    return this.stateScript(...block.keys, ...block.args);
  }

  /** Takes the user's new overrides at once, on every instance (the admin's PATCH, once MongoDB has them). */
  async setOverrides(userId: ObjectId, overrides: QuotaLimits, now = new Date()): Promise<void> {
    const { day } = periodsOf(now);
    await this.overridesScript(
      this.key(userId, day),
      limitArg(overrides.day),
      limitArg(overrides.month),
      expiryOf(day),
    );
  }

  /** Gives back what the generation's run was charged if it failed or was canceled; safe to call any number of times. */
  async giveBack(generation: GenerationDocument): Promise<void> {
    if (generation.status !== 'failed' && generation.status !== 'canceled') return;
    await this.release(generation.user_id, chargeOf(generation._id, generation.run), runStartedAt(generation));
  }

  /**
   * Gives back `charge`, made shortly before or after `around`, from whichever period holds it; the
   * images given back (0 when it was given back already, or never made).
   */
  async release(userId: ObjectId, charge: string, around: Date): Promise<number> {
    const at = [-CHARGED_WITHIN_MS, 0, CHARGED_WITHIN_MS].map((ms) => periodsOf(new Date(around.getTime() + ms)));
    const keys = new Set(at.flatMap(({ day, month }) => [this.key(userId, day), this.key(userId, month)]));
    return this.releaseScript(keys.size, ...keys, charge);
  }
}
