import { imageSize } from 'image-size';
import { ApiClient } from '../support/api-client';
import { HfEmulator } from '../support/hf-emulator';
import { isolation, type Isolation } from '../support/isolation';
import { spawnApi, spawnWorker, type SpawnedService } from '../support/services';

const SEED_LOGIN = { email: 'user@example.com', password: 'password123', name: 'John Doe' };
const SEED_PROMPT = 'A beautiful sunset over mountains, vibrant colors';

describe('the seed flow: login, POST a prompt, poll until completed', () => {
  let env: Isolation;
  let emulator: HfEmulator;
  let api: SpawnedService;
  let worker: SpawnedService;
  let client: ApiClient;

  beforeAll(async () => {
    env = isolation();
    emulator = await HfEmulator.start();
    const hfEnv = { HF_TOKEN: 'hf_test_token', HF_BASE_URL: emulator.baseUrl };
    [api, worker] = await Promise.all([spawnApi({ ...env.env }), spawnWorker({ ...env.env, ...hfEnv })]);
    client = new ApiClient(api.url);
  });

  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await emulator?.close();
    await env?.cleanup();
  });

  test('when a user logs in with the seed body and posts the seed prompt, then the record completes with a data URL of the asked size', async () => {
    const login = await client.request<{ success: boolean; data: { token: string } }>(
      'POST',
      '/api/auth/login',
      SEED_LOGIN,
    );
    expect(login.status).toBe(200);
    client.token = login.body.data.token;

    const created = await client.request<{ success: boolean; data: { id: string; status: string } }>(
      'POST',
      '/api/generations/',
      {
        prompt: SEED_PROMPT,
        width: 768,
        height: 512,
      },
    );
    expect(created.status).toBe(202);
    expect(created.body.data.status).toBe('pending');
    expect(created.headers.get('location')).toBe(`/api/generations/${created.body.data.id}`);

    const done = await client.waitFor(created.body.data.id);
    expect(done.status).toBe('completed');
    const match = /^data:(image\/png);base64,(.+)$/.exec(done.image_url ?? '');
    expect(match).not.toBeNull();
    const bytes = Buffer.from(match![2]!, 'base64');
    expect(imageSize(bytes)).toMatchObject({ type: 'png', width: 768, height: 512 });

    const image = await fetch(`${api.url}/api/generations/${done.id}/image`, {
      headers: { authorization: `Bearer ${client.token}` },
    });
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(bytes)).toBe(true);

    const [sent] = emulator.requests;
    expect(sent).toMatchObject({
      authorization: 'Bearer hf_test_token',
      body: { inputs: SEED_PROMPT, parameters: { width: 768, height: 512 } },
    });
  });
});
