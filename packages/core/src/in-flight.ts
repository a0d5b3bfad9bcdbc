import type { RedisClient } from './connections';
import { ObjectId } from 'mongodb';
import { redisScript } from './redis-script';

/**
 * Lua: `reserve(key, member, max)` adds a member unless the set already holds `max`; the size it
 * had when it refused, or -1. For scripts that reserve along with other work (the API's admission
 * of a create), so that the set's rule is written once.
 */
export const RESERVE_LUA = `
local function reserve(key, member, max)
  local size = redis.call('SCARD', key)
  if size >= max then return size end
  redis.call('SADD', key, member)
  return -1
end`;

const RESERVE_SCRIPT = `${RESERVE_LUA}
return reserve(KEYS[1], ARGV[1], tonumber(ARGV[2]))`;

/**
 * The generations each user has pending or processing, as one Redis set per user. It lets the API
 * check the cap on them with one atomic Redis call per create, where counting the user's records
 * in MongoDB costs an index range per create (a collection scan on FerretDB), under a race that
 * lets concurrent creates all pass.
 *
 * It follows MongoDB, which stays the truth: the lifecycle adds a generation as it is queued and
 * removes it as it ends. A process that stops between the record's write and the set's leaves a
 * member behind, which `reserve`'s caller finds out and drops when the user reaches the cap.
 */
export class InFlightGenerations {
  private readonly reserveScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.reserveScript = redisScript<number>(redis, 'imagegenReserveInFlight', RESERVE_SCRIPT, 1);
  }

  /** Adds the generation if the user has fewer than `max`; otherwise how many the set holds. */
  async reserve(userId: ObjectId, generationId: ObjectId, max: number): Promise<number | null> {
    const size = await this.reserveScript(this.key(userId), generationId.toHexString(), max);
    return size === -1 ? null : size;
  }

  async add(userId: ObjectId, generationId: ObjectId): Promise<void> {
    await this.redis.sadd(this.key(userId), generationId.toHexString());
  }

  async remove(userId: ObjectId, ...generationIds: ObjectId[]): Promise<void> {
    if (generationIds.length === 0) return;
    await this.redis.srem(this.key(userId), ...generationIds.map((id) => id.toHexString()));
  }

  async members(userId: ObjectId): Promise<ObjectId[]> {
    return (await this.redis.smembers(this.key(userId))).map((id) => new ObjectId(id));
  }

  /** The user's set, for scripts that reserve with `RESERVE_LUA`. */
  key(userId: ObjectId): string {
    return `${this.prefix}:in-flight:${userId.toHexString()}`;
  }
}
