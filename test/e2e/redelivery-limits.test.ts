import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JOBS, QUEUES, jobOptions, webhookMessageId, type ApiFailure } from '@imagegen/shared';
import { ApiClient, type Reply } from '../support/api-client';
import { newUser, startSystem, type System } from '../support/system';
import { WebhookReceiver, answer } from '../support/webhook-receiver';

const PER_MESSAGE = 3;
const PER_USER = 5;

const redeliverPath = (id: string) => `/api/generations/${id}/webhook-deliveries/redeliver`;

describe('webhooks: redelivery is limited per message and per user, and ends at a 410', () => {
  let system: System;
  let receiver: WebhookReceiver;
  let redis: Redis;
  let webhookQueue: Queue;

  beforeAll(async () => {
    system = await startSystem({
      apiEnv: {
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_REDELIVERIES_PER_MESSAGE: String(PER_MESSAGE),
        WEBHOOK_REDELIVERIES_PER_USER: String(PER_USER),
        WEBHOOK_REDELIVERY_WINDOW: '1h',
      },
      workerEnv: { WEBHOOK_ALLOW_PRIVATE: 'true' },
    });
    receiver = await WebhookReceiver.start();
    redis = new Redis(system.env.redisUrl, { maxRetriesPerRequest: null });
    webhookQueue = new Queue(QUEUES.webhooks, { connection: redis, prefix: system.env.queuePrefix });
  });

  afterAll(async () => {
    await webhookQueue?.close();
    redis?.disconnect();
    await receiver?.close();
    await system?.stop();
  });

  /** A generation of `user`'s whose webhook to `path` has had its first attempt, with that attempt's outcome. */
  async function hooked(user: ApiClient, path: string, outcome: 'delivered' | 'stopped'): Promise<string> {
    const created = await user.create({ prompt: `a webhook to ${path}`, webhook_url: receiver.url(path) });
    await user.waitForDeliveries(created.id, (log) => log.messages[0]?.state === outcome);
    return created.id;
  }

  /** `count` redeliveries of the given generations, in turn, sent at once by `clients` clients of one user. */
  async function burst(user: ApiClient, ids: string[], count: number, clients = 8): Promise<Reply<ApiFailure>[]> {
    const sessions = Array.from({ length: clients }, () => new ApiClient(user.baseUrl, user.token));
    const replies: Reply<ApiFailure>[] = [];
    let next = 0;
    await Promise.all(
      sessions.map(async (session) => {
        while (next < count) {
          const id = ids[next++ % ids.length]!;
          replies.push(await session.request<ApiFailure>('POST', redeliverPath(id)));
        }
      }),
    );
    return replies;
  }

  const statuses = (replies: Reply<unknown>[]) => replies.map((r) => r.status).sort();

  /** Resolves once every webhook job has run: the receiver has then had every POST it will get. */
  async function webhooksSettled(): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const counts = await webhookQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(counts).every((n) => n === 0)) return;
      if (Date.now() > deadline) throw new Error(`webhook jobs still to run: ${JSON.stringify(counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // The attack: 300 redeliveries in 7 s made 300 signed POSTs at the receiver.
  test(`when 8 clients ask for 40 redeliveries of one message at once, then exactly ${PER_MESSAGE} are queued and sent, and the others get 429 with Retry-After`, async () => {
    const alice = await newUser(system, 'alice');
    const id = await hooked(alice, '/burst', 'delivered');

    const replies = await burst(alice, [id], 40);
    expect(statuses(replies)).toEqual([...Array(PER_MESSAGE).fill(202), ...Array(40 - PER_MESSAGE).fill(429)]);
    for (const refused of replies.filter((r) => r.status === 429)) {
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(3600);
      expect(refused.body).toMatchObject({ success: false, message: expect.stringMatching(/redeliver/i) });
    }

    await webhooksSettled();
    expect(receiver.deliveriesTo('/burst')).toHaveLength(1 + PER_MESSAGE);
  });

  test(`when a user spreads 12 redeliveries at once over two messages, then exactly ${PER_USER} pass in all, none of a message beyond ${PER_MESSAGE}`, async () => {
    const bob = await newUser(system, 'bob');
    const first = await hooked(bob, '/spread-1', 'delivered');
    const second = await hooked(bob, '/spread-2', 'delivered');

    const replies = await burst(bob, [first, second], 12);
    expect(statuses(replies)).toEqual([...Array(PER_USER).fill(202), ...Array(12 - PER_USER).fill(429)]);
    for (const refused of replies.filter((r) => r.status === 429)) {
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }

    await webhooksSettled();
    const sent = [receiver.deliveriesTo('/spread-1').length - 1, receiver.deliveriesTo('/spread-2').length - 1];
    expect(sent[0]! + sent[1]!).toBe(PER_USER);
    expect(Math.max(...sent)).toBeLessThanOrEqual(PER_MESSAGE);
  });

  test('when the receiver answered 410 to the scheduled attempt, then a redelivery is refused with 409 and nothing is sent', async () => {
    const carol = await newUser(system, 'carol');
    receiver.script('/gone', answer.status(410));
    const id = await hooked(carol, '/gone', 'stopped');

    const replies = await burst(carol, [id], 4, 2);
    expect(statuses(replies)).toEqual([409, 409, 409, 409]);
    expect(replies[0]!.body).toMatchObject({ success: false, message: expect.stringMatching(/410/) });

    // A redelivery queued before the 410 came (as the API did until then) is not sent either.
    const messageId = webhookMessageId(id, 'generation.completed');
    const data = { messageId, trigger: 'redeliver' } as const;
    await webhookQueue.add(JOBS.webhookDeliver, data, jobOptions(JOBS.webhookDeliver, data));
    await webhooksSettled();
    expect(receiver.deliveriesTo('/gone')).toHaveLength(1);
  });

  test('when the receiver answers 410 to a redelivery, then the message stops and the next redelivery is refused with 409', async () => {
    const dan = await newUser(system, 'dan');
    const id = await hooked(dan, '/gone-later', 'delivered');
    receiver.script('/gone-later', answer.status(410));

    expect((await dan.request('POST', redeliverPath(id))).status).toBe(202);
    const log = await dan.waitForDeliveries(id, (l) => l.messages[0]?.state === 'stopped');
    expect(log.attempts[0]).toMatchObject({ trigger: 'redeliver', status_code: 410, outcome: 'stopped' });

    expect((await dan.request('POST', redeliverPath(id))).status).toBe(409);
    await webhooksSettled();
    expect(receiver.deliveriesTo('/gone-later')).toHaveLength(2);
  });
});
