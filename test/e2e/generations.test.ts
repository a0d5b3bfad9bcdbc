import { imageSize } from 'image-size';
import { STYLE_PRESETS, type ApiFailure, type ApiSuccess, type Generation } from '@imagegen/shared';
import type { ApiClient } from '../support/api-client';
import { hf } from '../support/hf-emulator';
import { newUser, startSystem, type System } from '../support/system';

describe('generations: ownership, image formats and the seed settings', () => {
  let system: System;
  let alice: ApiClient;

  beforeAll(async () => {
    system = await startSystem();
    alice = await newUser(system, 'alice');
  });

  afterAll(async () => {
    await system?.stop();
  });

  describe('privacy', () => {
    let bob: ApiClient;
    let alicesGeneration: Generation;

    beforeAll(async () => {
      bob = await newUser(system, 'bob');
      const created = await alice.create({ prompt: "alice's private picture", model: 'test/privacy' });
      alicesGeneration = await alice.waitFor(created.id);
    });

    test("when another user asks for a user's generation, then the answer is 404, the same as for an id that does not exist", async () => {
      expect(alicesGeneration).toMatchObject({ status: 'completed', error: null });

      const asBob = await bob.get(alicesGeneration.id);
      const unknown = await bob.get('0123456789abcdef01234567');
      expect(asBob.status).toBe(404);
      expect(asBob.body).toEqual(unknown.body);
      expect((asBob.body as ApiFailure).success).toBe(false);
      expect(JSON.stringify(asBob.body)).not.toContain(alicesGeneration.prompt);

      // The owner still sees it.
      expect((await alice.get(alicesGeneration.id)).status).toBe(200);
    });

    test("when another user asks for a user's image, then the answer is 404 and carries no image bytes", async () => {
      const asBob = await bob.image(alicesGeneration.id);
      expect(asBob.status).toBe(404);
      expect(asBob.headers.get('content-type')).toMatch(/^application\/json/);

      expect((await alice.image(alicesGeneration.id)).status).toBe(200);
    });

    test("when another user lists their generations, then the list does not contain the user's generation", async () => {
      const own = await bob.create({ prompt: "bob's own picture", model: 'test/privacy' });
      const bobsList = await bob.list();
      expect(bobsList.items.map((item) => item.id)).toEqual([own.id]);

      const alicesList = await alice.list();
      expect(alicesList.items.map((item) => item.id)).toContain(alicesGeneration.id);
      expect(alicesList.items.map((item) => item.id)).not.toContain(own.id);
    });
  });

  test('when Hugging Face answers with JPEG bytes, then image_url is a JPEG data URL and /image is served as image/jpeg', async () => {
    const model = 'test/jpeg-answers';
    system.emulator.script(model, hf.jpeg());
    const created = await alice.create({ prompt: 'a photo', model, width: 384, height: 256 });
    const done = await alice.waitFor(created.id);

    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(done.image).toMatchObject({ mime_type: 'image/jpeg', width: 384, height: 256 });
    const match = /^data:image\/jpeg;base64,(.+)$/.exec(done.image_url ?? '');
    expect(match).not.toBeNull();
    const bytes = Buffer.from(match![1]!, 'base64');
    expect(imageSize(bytes)).toMatchObject({ type: 'jpg', width: 384, height: 256 });

    const image = await alice.image(done.id);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    expect(image.bytes.equals(bytes)).toBe(true);
  });

  test("when a generation names a model and the seed's settings, then HF gets them at ${HF_BASE_URL}/${model} in `parameters`", async () => {
    const model = 'acme/custom-diffusion';
    const prompt = 'A lighthouse on a cliff at dawn';
    const created = await alice.create({
      prompt,
      model,
      width: 512,
      height: 384,
      negative_prompt: 'blurry, low quality',
      seed: 4_242,
      num_inference_steps: 30,
      guidance_scale: 7.5,
    });
    const done = await alice.waitFor(created.id);

    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(done.settings).toMatchObject({
      model,
      negative_prompt: 'blurry, low quality',
      seed: 4_242,
      num_inference_steps: 30,
      guidance_scale: 7.5,
    });
    const sent = system.emulator.requestsFor(model);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.path).toBe(`${new URL(system.emulator.baseUrl).pathname}/${model}`);
    expect(sent[0]!.authorization).toBe(`Bearer ${system.workerEnv.HF_TOKEN}`);
    expect(sent[0]!.body).toEqual({
      inputs: prompt,
      parameters: {
        width: 512,
        height: 384,
        negative_prompt: 'blurry, low quality',
        seed: 4_242,
        num_inference_steps: 30,
        guidance_scale: 7.5,
      },
    });
  });

  test("when a generation asks for a style preset, then the preset's words are appended to HF's inputs while the stored prompt stays the user's", async () => {
    const model = 'test/styled';
    const prompt = 'A fox in the snow';
    const created = await alice.create({ prompt, model, style: 'watercolor' });
    const done = await alice.waitFor(created.id);

    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(done.prompt).toBe(prompt);
    expect(done.settings.style).toBe('watercolor');
    const [sent] = system.emulator.requestsFor(model);
    expect(sent?.body.inputs).toBe(`${prompt}, ${STYLE_PRESETS.watercolor}`);

    const listed = (await alice.list()).items.find((item) => item.id === done.id);
    expect(listed?.prompt).toBe(prompt);
    const fetched = (await alice.get(done.id)).body as ApiSuccess<Generation>;
    expect(fetched.data.prompt).toBe(prompt);
  });
});
