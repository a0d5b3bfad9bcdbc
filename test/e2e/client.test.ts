import { freePort } from '@imagegen/devstack';
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  GenerationError,
  imageOf,
  ImagegenClient,
  NotFoundError,
  RateLimitError,
  ValidationError,
  type GenerationEvent,
} from '@imagegen/client';
import { DEFAULT_HF_MODEL } from '@imagegen/shared';
import { ApiProxy, type ProxiedRequest } from '../support/api-proxy';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { startSystem, type System } from '../support/system';

/** The typed client against the live API (through a proxy that can inject faults): `@imagegen/client`. */
describe('@imagegen/client', () => {
  let system: System;
  let proxy: ApiProxy;
  let users = 0;

  beforeAll(async () => {
    system = await startSystem();
    proxy = await ApiProxy.start(system.api.url);
  });

  afterAll(async () => {
    await proxy?.close();
    await system?.stop();
  });

  /** A client of a new account, through the proxy; retries wait 50 ms so that tests stay short. */
  async function newClient(): Promise<ImagegenClient> {
    const client = new ImagegenClient({ baseUrl: proxy.url, retryDelayMs: 50 });
    await client.login({ email: `client-${process.pid}-${++users}@example.com`, password: 'password123', name: 'C' });
    return client;
  }

  const requestsSince = (start: number, test: (r: ProxiedRequest) => boolean) =>
    proxy.requests.slice(start).filter(test);
  const isCreate = (r: ProxiedRequest) => r.method === 'POST' && /^\/api\/generations\/?$/.test(r.path);
  const isEvents = (r: ProxiedRequest) => r.path.endsWith('/events');
  const isRead = (id: string) => (r: ProxiedRequest) => r.method === 'GET' && r.path === `/api/generations/${id}`;
  const statusesOf = (events: GenerationEvent[]) => events.flatMap((e) => (e.type === 'status' ? [e.status] : []));

  it('logs in and signs up, and turns refusals into typed errors with the API’s message and fields', async () => {
    const client = new ImagegenClient({ baseUrl: proxy.url });
    const email = `typed-${process.pid}@example.com`;
    const registered = await client.register({ email, password: 'password123', name: 'Typed' });
    expect(registered.user.email).toBe(email);
    expect(client.token).toBe(registered.token);

    const taken = client.register({ email, password: 'password123', name: 'Typed' });
    await expect(taken).rejects.toBeInstanceOf(ConflictError);
    const wrong = await client.login({ email, password: 'not-the-password' }).catch((err: unknown) => err);
    expect(wrong).toBeInstanceOf(AuthenticationError);
    expect(wrong).toMatchObject({ status: 401, requestId: expect.any(String) });

    const missing = await client.getGeneration('0123456789abcdef01234567').catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).message).toMatch(/not found/i);
  });

  it('checks a create against the shared schema before sending it', async () => {
    const client = await newClient();
    const before = proxy.requests.length;
    const refused = await client
      // `hf-endpoint` says who served a record; no request may ask for it.
      .createGeneration({ prompt: 'a cat', width: 100, colour: 'red', provider: 'hf-endpoint' } as never)
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    const fields = new Set((refused as ValidationError).errors.map((e) => e.field));
    expect([...fields].sort()).toEqual(['colour', 'provider', 'width']);
    expect(requestsSince(before, isCreate)).toHaveLength(0);
  });

  it('models() lists the default model and the provider serving it; a record says who served it once known', async () => {
    const client = await newClient();
    const before = proxy.requests.length;
    const models = await client.models();
    // The system's worker sends every request to its one endpoint (HF_BASE_URL), for any model.
    expect(models).toEqual({
      items: [
        {
          id: DEFAULT_HF_MODEL,
          default: true,
          providers: [{ provider: 'hf-endpoint', provider_id: expect.any(String), status: 'live' }],
        },
      ],
    });
    expect(requestsSince(before, (r) => r.method === 'GET' && r.path === '/api/models')).toHaveLength(1);

    const created = await client.createGeneration({ prompt: 'a served cat' });
    expect(created).toMatchObject({
      status: 'pending',
      provider: null,
      settings: { model: DEFAULT_HF_MODEL, provider: null },
    });
    const done = await client.waitFor(created);
    expect(done).toMatchObject({ status: 'completed', provider: 'hf-endpoint', settings: { provider: null } });
    const [listed] = (await client.listGenerations({ limit: 1 })).items;
    expect(listed).toMatchObject({ id: created.id, provider: 'hf-endpoint' });

    // A provider is sent as asked; this API, with one dedicated endpoint, can use none but its own.
    const refused = await client.createGeneration({ prompt: 'a cat', provider: 'fal-ai' }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused).toMatchObject({ status: 422, errors: [{ field: 'provider', message: expect.any(String) }] });
  });

  it('generate() follows the live stream through a cold start and returns the image', async () => {
    const client = await newClient();
    system.emulator.script('client/cold', hf.coldStart('client/cold', 1), hf.jpeg());
    const before = proxy.requests.length;
    const events: GenerationEvent[] = [];
    const generation = await client.generate(
      { prompt: 'a lighthouse', model: 'client/cold' },
      { onEvent: (e) => events.push(e) },
    );

    expect(generation).toMatchObject({ status: 'completed', provider: 'hf-endpoint' });
    expect(statusesOf(events)).toEqual(expect.arrayContaining(['pending', 'processing']));
    expect(statusesOf(events).at(-1)).toBe('completed');
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'notice', message: expect.stringMatching(/loading/) }),
    );
    const served = await client.getImage(generation.id);
    const image = imageOf(generation);
    expect(image.mimeType).toBe('image/jpeg');
    expect(served.mimeType).toBe('image/jpeg');
    expect(Buffer.from(image.bytes).equals(Buffer.from(served.bytes))).toBe(true);
    // One stream, and one read of the whole record at the end: no polling.
    expect(requestsSince(before, isEvents)).toHaveLength(1);
    expect(requestsSince(before, isRead(generation.id))).toHaveLength(1);
  });

  it('generate() rejects with a GenerationError carrying the failed record; waitFor() follows its retry', async () => {
    const client = await newClient();
    system.emulator.script('client/broke', hf.outOfCredits());
    const failed = await client.generate({ prompt: 'a cat', model: 'client/broke' }).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(GenerationError);
    const { generation } = failed as GenerationError;
    expect(generation.status).toBe('failed');
    expect(generation.error).toMatch(/out of credits/);
    expect((failed as Error).message).toContain(generation.error);

    // Run again, its stream still holds the first run's `failed`: waitFor must wait for this run's end.
    await client.retryGeneration(generation.id);
    const events: GenerationEvent[] = [];
    const done = await client.waitFor(generation.id, { onEvent: (e) => events.push(e), via: 'sse' });
    expect(done.status).toBe('completed');
    expect(statusesOf(events)).not.toContain('failed');
    expect(statusesOf(events).at(-1)).toBe('completed');
  });

  it.each([
    ['buffers the stream into a page', { status: 200, contentType: 'text/html', body: '<html>buffered</html>' }],
    ['does not route the stream', { status: 502, contentType: 'text/html', body: '<html>Bad Gateway</html>' }],
  ])('generate() falls back to polling when a proxy %s', async (_, page) => {
    const client = await newClient();
    proxy.fault(isEvents, page);
    system.emulator.script('client/poll', hf.png(300));
    const before = proxy.requests.length;
    const events: GenerationEvent[] = [];
    const generation = await client.generate(
      { prompt: 'a boat', model: 'client/poll' },
      { onEvent: (e) => events.push(e), pollIntervalMs: 50 },
    );
    expect(generation.status).toBe('completed');
    expect(statusesOf(events).at(-1)).toBe('completed');
    expect(requestsSince(before, isEvents)).toHaveLength(1);
    expect(requestsSince(before, isRead(generation.id)).length).toBeGreaterThan(1);
  });

  it('minimal: true asks for the record without its bytes, on a waited create and on a get; getImage() still fetches them', async () => {
    const client = await newClient();
    system.emulator.script('client/minimal', hf.png());
    const done = await client.createGeneration(
      { prompt: 'a light sketch', model: 'client/minimal' },
      { waitSeconds: 10, minimal: true },
    );
    expect(done).toMatchObject({ status: 'completed', image_url: null, image: { mime_type: 'image/png' } });
    expect(await client.getGeneration(done.id, { minimal: true })).toMatchObject({ id: done.id, image_url: null });
    const image = await client.getImage(done.id);
    expect(image.bytes.length).toBe(done.image!.size_bytes);
    const full = await client.getGeneration(done.id);
    expect(full.image_url).toBe(`data:image/png;base64,${Buffer.from(image.bytes).toString('base64')}`);
  });

  it('waitFor() given the record a create answered follows on from it, so a run that already ended still shows each status', async () => {
    const client = await newClient();
    system.emulator.script('client/quick', hf.png());
    const created = await client.createGeneration({ prompt: 'a quick sketch', model: 'client/quick' });
    await eventually('the run to end', async () =>
      (await client.getGeneration(created.id)).status === 'completed' ? true : undefined,
    );

    const before = proxy.requests.length;
    const events: GenerationEvent[] = [];
    const done = await client.waitFor(created, { onEvent: (e) => events.push(e) });
    expect(done).toMatchObject({
      id: created.id,
      status: 'completed',
      image_url: expect.stringMatching(/^data:image\/png;/),
    });
    expect(statusesOf(events)).toEqual(['pending', 'processing', 'completed']);
    // No read before the stream: only the final one, for the image.
    expect(requestsSince(before, isRead(created.id))).toHaveLength(1);
    expect(requestsSince(before, isEvents)).toHaveLength(1);

    // By id, it reads the record first, finds it ended, and has nothing to follow.
    const byId: GenerationEvent[] = [];
    expect(await client.waitFor(created.id, { onEvent: (e) => byId.push(e) })).toMatchObject({ status: 'completed' });
    expect(byId).toEqual([]);
  });

  it('resumes a cut stream after its last event, without repeating one', async () => {
    const client = await newClient();
    proxy.fault(isEvents, 'cut-after-first-event');
    system.emulator.script('client/cut', hf.png(1500));
    const before = proxy.requests.length;
    const events: GenerationEvent[] = [];
    const generation = await client.generate(
      { prompt: 'a kite', model: 'client/cut' },
      { onEvent: (e) => events.push(e), via: 'sse' },
    );
    expect(generation.status).toBe('completed');
    const streams = requestsSince(before, isEvents);
    expect(streams).toHaveLength(2);
    expect(streams[0]?.headers['last-event-id']).toBeUndefined();
    expect(streams[1]?.headers['last-event-id']).toMatch(/^\d+-\d+$/);
    // The created record's `pending`, then the stream's own: each status once after that.
    expect(statusesOf(events)).toEqual(['pending', 'pending', 'processing', 'completed']);
  });

  it('cancels the generation when the caller aborts', async () => {
    const client = await newClient();
    system.emulator.script('client/slow', hf.png(20_000));
    const abort = new AbortController();
    let id: string | undefined;
    const outcome = await client
      .generate(
        { prompt: 'a very slow cat', model: 'client/slow' },
        {
          signal: abort.signal,
          onEvent: (e) => {
            if (e.type !== 'status') return;
            id = e.generation.id;
            if (e.status === 'processing') abort.abort();
          },
        },
      )
      .catch((err: unknown) => err);
    expect(outcome).toMatchObject({ name: 'AbortError' });
    const canceled = await eventually('canceled', async () => {
      const record = await client.getGeneration(id as string);
      return record.status === 'canceled' ? record : undefined;
    });
    expect(canceled.cancel_reason).toBe('user');
  });

  it('sends a create again with the same key when its answer is lost, making one generation', async () => {
    const client = await newClient();
    proxy.fault(isCreate, 'lose-answer');
    const before = proxy.requests.length;
    const generation = await client.generate('a lost answer');
    expect(generation.status).toBe('completed');
    const creates = requestsSince(before, isCreate);
    expect(creates).toHaveLength(2);
    expect(creates[0]?.headers['idempotency-key']).toEqual(expect.any(String));
    expect(creates[1]?.headers['idempotency-key']).toBe(creates[0]?.headers['idempotency-key']);
    const page = await client.listGenerations();
    expect(page.items.map((g) => g.id)).toEqual([generation.id]);
  });

  it('waits out a 429 for as long as Retry-After says, or throws RateLimitError when out of tries', async () => {
    const client = await newClient();
    const { id } = await client.createGeneration({ prompt: 'a queue' });
    const limited = {
      status: 429,
      contentType: 'application/json',
      body: JSON.stringify({ success: false, message: 'Too many requests' }),
      headers: { 'Retry-After': '1' },
    };
    proxy.fault(isRead(id), limited);
    const before = proxy.requests.length;
    expect((await client.getGeneration(id)).id).toBe(id);
    expect(requestsSince(before, isRead(id))).toHaveLength(2);

    proxy.fault(isRead(id), limited);
    const impatient = new ImagegenClient({ baseUrl: proxy.url, token: client.token, retries: 0 });
    const refused = await impatient.getGeneration(id).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect(refused).toMatchObject({ status: 429, retryAfterSeconds: 1, message: 'Too many requests' });
  });

  it('pages through every generation, newest first', async () => {
    const client = await newClient();
    const created: string[] = [];
    for (const prompt of ['one', 'two', 'three']) created.push((await client.createGeneration({ prompt })).id);
    const before = proxy.requests.length;
    const seen: string[] = [];
    for await (const generation of client.generations({ limit: 2 })) seen.push(generation.id);
    expect(seen).toEqual(created.reverse());
    expect(requestsSince(before, (r) => r.path.startsWith('/api/generations?'))).toHaveLength(2);
  });

  it('generate() of several images gives each through getImage(), as a thumbnail or converted, and usage() counts them', async () => {
    const client = await newClient();
    const generation = await client.generate({ prompt: 'three lanterns', num_images: 3, seed: 11 });
    expect(generation.images.map(({ index, url }) => [index, url])).toEqual(
      [0, 1, 2].map((index) => [index, `${generation.urls.get}/images/${index}`]),
    );
    const first = await client.getImage(generation.id);
    expect(Buffer.from(first.bytes).equals(Buffer.from(imageOf(generation).bytes))).toBe(true);
    const third = await client.getImage(generation.id, { index: 2 });
    expect(third.bytes.length).toBe(generation.images[2]?.size_bytes);
    expect(Buffer.from(third.bytes).equals(Buffer.from(first.bytes))).toBe(false);
    const thumbnail = await client.getImage(generation.id, { index: 2, width: 128 });
    expect(thumbnail.mimeType).toBe('image/webp');
    expect(Buffer.from(thumbnail.bytes).subarray(8, 12).toString('latin1')).toBe('WEBP');
    const jpeg = await client.getImage(generation.id, { index: 1, format: 'jpeg' });
    expect(jpeg.mimeType).toBe('image/jpeg');
    expect([...jpeg.bytes.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    const unknown = await client.getImage(generation.id, { index: 3 }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(NotFoundError);

    // The run is counted just after the record completes: the report catches up within moments.
    const usage = await eventually('the run in the usage report', async () => {
      const report = await client.usage();
      return report.totals.runs.completed === 1 ? report : undefined;
    });
    expect(usage.totals.images).toBe(3);
    expect(usage.totals.runs).toEqual({ completed: 1, failed: 0, canceled: 0 });
    expect(usage.by_model).toEqual([expect.objectContaining({ model: generation.settings.model, images: 3 })]);
    expect(usage.quota.day).toMatchObject({ limit: null, used: 3, remaining: null });
  });

  it('says ConnectionError when nothing answers, after its retries', async () => {
    const client = new ImagegenClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, retryDelayMs: 10 });
    const err = await client.health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
  });

  it('deleteGeneration() deletes a generation of the user’s once: then it, its image and a second delete are NotFoundError', async () => {
    const client = await newClient();
    const done = await client.generate('a cat to throw away');
    const before = proxy.requests.length;
    await expect(client.deleteGeneration(done.id)).resolves.toBeUndefined();
    expect(requestsSince(before, (r) => r.method === 'DELETE')).toEqual([
      expect.objectContaining({ path: `/api/generations/${done.id}` }),
    ]);

    await expect(client.getGeneration(done.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.getImage(done.id)).rejects.toBeInstanceOf(NotFoundError);
    const again = await client.deleteGeneration(done.id).catch((err: unknown) => err);
    expect(again).toBeInstanceOf(NotFoundError);
    expect(again).toMatchObject({ status: 404, message: 'Generation not found' });
    expect((await client.listGenerations()).items).toEqual([]);
  });

  it('deleteGeneration() of another user’s generation is NotFoundError, and the generation stays', async () => {
    const owner = await newClient();
    const other = await newClient();
    const { id } = await owner.createGeneration({ prompt: 'not yours to delete' });
    await expect(other.deleteGeneration(id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await owner.getGeneration(id)).id).toBe(id);
  });

  it('deleteAccount() refuses a wrong password; with the right one the account goes, and its token and password stop working', async () => {
    const client = new ImagegenClient({ baseUrl: proxy.url, retryDelayMs: 50 });
    const email = `leaving-${process.pid}@example.com`;
    await client.register({ email, password: 'password123', name: 'Leaving' });
    const { id } = await client.createGeneration({ prompt: 'left behind' });
    const token = client.token;

    const wrong = await client.deleteAccount({ password: 'not-the-password' }).catch((err: unknown) => err);
    expect(wrong).toBeInstanceOf(AuthenticationError);
    expect((await client.getGeneration(id)).id).toBe(id);

    await expect(client.deleteAccount({ password: 'password123' })).resolves.toBeUndefined();
    expect(client.token).toBeUndefined();
    await expect(client.login({ email, password: 'password123' })).rejects.toBeInstanceOf(AuthenticationError);
    const stale = new ImagegenClient({ baseUrl: proxy.url, token });
    await expect(stale.getGeneration(id)).rejects.toBeInstanceOf(AuthenticationError);
  });

  it('deleteAccount() without a password sends no body, which a token issued moments ago is enough for', async () => {
    const client = await newClient();
    const stale = new ImagegenClient({ baseUrl: proxy.url, token: client.token });
    const before = proxy.requests.length;
    await client.deleteAccount();
    const [sent] = requestsSince(before, (r) => r.method === 'DELETE' && r.path === '/api/users/me');
    expect(sent?.headers).not.toHaveProperty('content-type');
    expect(sent?.headers).not.toHaveProperty('content-length');
    await expect(stale.listGenerations()).rejects.toBeInstanceOf(AuthenticationError);
  });
});
