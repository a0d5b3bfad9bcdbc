import type { RedisClient } from './connections';

/** A Lua script's arguments: the keys first (`numberOfKeys` of them, or a count before them), then ARGV. */
export type ScriptArgs = (string | number)[];

/**
 * A Lua script as a function on `redis`, defined on the connection once under `name`: ioredis then
 * sends it by its SHA, and the script itself only when Redis does not have it yet. Without
 * `numberOfKeys`, every call passes the number of keys as its first argument (variadic keys).
 */
export function redisScript<R>(
  redis: RedisClient,
  name: string,
  lua: string,
  numberOfKeys?: number,
): (...args: ScriptArgs) => Promise<R> {
  redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { numberOfKeys, lua });
  // defineCommand adds the method at run time; ioredis's types cannot know its name.
  const command = (redis as unknown as Record<string, (...args: ScriptArgs) => Promise<R>>)[name]!;
  return (...args) => command.apply(redis, args);
}
