import type { ApiFailure } from '@imagegen/shared';
import type { ApiClient } from '../../../test/support/api-client';
import { startHarness, type Harness } from './api-harness';

/**
 * What a refused webhook_url tells the client. A message naming the address a host resolved to,
 * or whether it resolved at all, let any user read our internal DNS one create at a time.
 */
describe('webhook_url refusals say only "not a public address"', () => {
  let h: Harness;
  let client: ApiClient;

  beforeAll(async () => {
    h = await startHarness();
    client = await h.user('prober@example.com');
  });

  afterAll(async () => {
    await h?.stop();
  });

  async function refusal(webhookUrl: string): Promise<string> {
    const reply = await client.request<ApiFailure>('POST', '/api/generations', {
      prompt: 'a probe',
      webhook_url: webhookUrl,
    });
    expect({ webhookUrl, status: reply.status }).toEqual({ webhookUrl, status: 400 });
    expect(reply.body.errors).toEqual([{ field: 'webhook_url', message: expect.any(String) }]);
    return JSON.stringify(reply.body);
  }

  // `localhost` stands for an internal name: it resolves here, to a loopback address.
  test('when a name resolves to an internal address, then the answer names neither the address nor its range', async () => {
    const body = await refusal('http://localhost:9/hook');
    expect(body).toContain('not a public address');
    expect(body).not.toMatch(/127\.0\.0\.1|::1|loopback|resolves/);
  });

  test('when a name does not resolve, then the answer is the same as for an internal one (no oracle for which names exist)', async () => {
    const internal = await refusal('http://localhost:9/hook');
    const missing = await refusal('http://no-such-host.invalid/hook');
    expect(missing).toBe(internal);
  });

  test('when an address is given literally, then the answer is the same too', async () => {
    const internal = await refusal('http://localhost:9/hook');
    for (const url of ['http://10.1.2.3/', 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]/']) {
      expect(await refusal(url)).toBe(internal);
    }
  });
});
