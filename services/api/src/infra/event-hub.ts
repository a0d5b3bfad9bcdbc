import { duplicateRedis, type RedisClient } from '@imagegen/core';
import type { Logger } from '@imagegen/core';

type Listener = () => void;

/**
 * One Redis subscription per API instance to the generation-events channel, fanned out to the
 * streams and waits of this instance that follow each generation.
 */
export class EventHub {
  private readonly listeners = new Map<string, Set<Listener>>();

  private constructor(private readonly subscriber: RedisClient) {
    subscriber.on('message', (_channel: string, generationId: string) => {
      for (const listener of this.listeners.get(generationId) ?? []) listener();
    });
  }

  /**
   * Subscribes without waiting: the API starts (and answers 503 where it must) while Redis is away,
   * and ioredis subscribes again whenever it reconnects.
   */
  static start(redis: RedisClient, channel: string, logger: Logger): EventHub {
    const subscriber = duplicateRedis(redis, 'blocking');
    subscriber.on('error', (err) => logger.warn({ err: err.message }, 'event subscription error'));
    subscriber.subscribe(channel).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message }, 'could not subscribe to generation events');
    });
    return new EventHub(subscriber);
  }

  /** Calls `listener` whenever the generation has new events; returns the unsubscribe. */
  follow(generationId: string, listener: Listener): () => void {
    const set = this.listeners.get(generationId) ?? new Set();
    set.add(listener);
    this.listeners.set(generationId, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(generationId);
    };
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
