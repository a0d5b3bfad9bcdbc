import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ImagegenClient, type ModelList } from '@imagegen/client';
import { DEFAULT_HF_MODEL } from '@imagegen/shared';
import { ARTIFACTS, launchBrowser, pressGenerate } from '../support/browser';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { startSystem, type System } from '../support/system';

/** The API's model when a request names none (no HF_MODEL here): the playground selects it first. */
const MODEL = DEFAULT_HF_MODEL;
/** A second model, which only the page is told of (see the provider test). */
const ROUTED = 'web/routed';
const PASSWORD = 'password123';

/** The web playground at `/`, driven in headless Chromium against the live API and worker. */
describe('the web playground', () => {
  let system: System;
  let browser: Browser;
  let page: Page;
  const email = `web-${process.pid}@example.com`;

  beforeAll(async () => {
    system = await startSystem({
      // Room for the gallery test's many generations in flight at once; queue places told often.
      apiEnv: { MAX_IN_FLIGHT_PER_USER: '100', CREATE_RATE_LIMIT: '1000', EVENTS_QUEUE_PLACE_MS: '250' },
      // One job at a time, so that a slow one makes the next ones wait in line; waits long enough
      // to read on a card.
      workerEnv: {
        WORKER_CONCURRENCY: '1',
        HF_TIMEOUT_MS: '10000',
        HF_MAX_WAIT_MS: '10000',
        HF_BACKOFF_MAX_MS: '1000',
      },
    });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  /** The API, as the signed-in user of the page. */
  async function api(): Promise<ImagegenClient> {
    const saved = (await page.evaluate(`localStorage.getItem('imagegen.session')`)) as string | null;
    const { token } = JSON.parse(saved ?? '{}') as { token: string };
    return new ImagegenClient({ baseUrl: system.api.url, token });
  }

  /**
   * Records, from now on, every `data-status` each card of the gallery takes and every text its
   * state line shows, each in order. Mutation records come in batches, so the values a batch went
   * through are read from their old values, not from the page as it is by then. Page scripts are
   * strings here: the tests' TypeScript has no DOM library.
   */
  async function recordStates(): Promise<void> {
    await page.evaluate(`(() => {
      const states = (window.states = {});
      const texts = (window.texts = {});
      const push = (lists, card, value) => {
        const list = (lists[card.dataset.id] ??= []);
        if (value && list.at(-1) !== value) list.push(value);
      };
      const noteAll = () =>
        document.querySelectorAll('li.card').forEach((card) => {
          push(states, card, card.dataset.status);
          push(texts, card, card.querySelector('.state')?.textContent);
        });
      noteAll();
      new MutationObserver((records) => {
        for (const record of records) {
          const card = record.target instanceof Element ? record.target.closest('li.card') : null;
          if (!card) continue;
          if (record.type === 'attributes') push(states, card, record.oldValue);
          else if (record.target.matches('.state'))
            push(texts, card, [...record.removedNodes].map((node) => node.textContent).join(''));
        }
        noteAll();
      }).observe(document.getElementById('gallery'), {
        subtree: true,
        childList: true,
        attributes: true,
        attributeOldValue: true,
        attributeFilter: ['data-status'],
      });
    })()`);
  }

  const statesOf = (id: string) => page.evaluate(`window.states[${JSON.stringify(id)}] ?? []`) as Promise<string[]>;
  const textsOf = (id: string) => page.evaluate(`window.texts[${JSON.stringify(id)}] ?? []`) as Promise<string[]>;

  /** `texts` shows a text matching each pattern, in this order (others may come between). */
  function expectInOrder(texts: string[], patterns: RegExp[]): void {
    let from = 0;
    for (const pattern of patterns) {
      const at = texts.findIndex((text, i) => i >= from && pattern.test(text));
      if (at < 0) throw new Error(`no ${pattern} after the first ${from} of ${JSON.stringify(texts)}`);
      from = at + 1;
    }
  }
  /** A select by the text its label starts with (the select is inside its label). */
  const select = (label: string, on: Page = page) => on.getByLabel(new RegExp(`^${label}`));
  /** Resolves with the next create the page sends. */
  const nextCreate = () =>
    page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/generations');
  /** The options of the select labelled `label`, as their texts show them. */
  function optionsOf(label: string) {
    const options = select(label).locator('option');
    return {
      texts: () => options.allTextContents(),
      /** Until the options include `text` (the list comes from the API after sign-in). */
      waitFor: (text: string) => options.filter({ hasText: text }).waitFor({ state: 'attached' }),
    };
  }
  const card = (id: string) => page.locator(`li.card[data-id="${id}"]`);
  const newestCard = () => page.locator('li.card').first();

  test('signs up, generates with the chosen settings, and shows the card going from queued to done', async () => {
    await page.goto(`${system.api.url}/`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel('Name').fill('Web User');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Nothing yet').waitFor();
    expect(await page.locator('#account-email').innerText()).toBe(email);

    system.emulator.script(MODEL, hf.png(1500));
    await page.getByRole('button', { name: 'A cute cat sitting on a windowsill' }).click();
    expect(await page.getByLabel('Prompt', { exact: true }).inputValue()).toBe('A cute cat sitting on a windowsill');
    await page.locator('summary', { hasText: 'Settings' }).click();
    // GET /api/models lists the default model alone, served by the worker's one endpoint: no
    // request may name that provider, so "auto" is the only choice.
    await optionsOf('Model').waitFor(`${MODEL} (default)`);
    expect(await select('Model').inputValue()).toBe(MODEL);
    expect(await optionsOf('Provider').texts()).toEqual(['auto']);
    await page.getByLabel('Width').selectOption('768');
    await page.getByLabel('Style').selectOption('watercolor');
    await page.getByLabel('Seed').fill('42');
    await page.getByLabel('Steps').fill('30');
    await page.getByLabel('Guidance').fill('7.5');
    await page.getByLabel('Negative prompt').fill('blurry, text');
    await recordStates();
    const sent = system.emulator.requestsFor(MODEL).length;
    const posted = nextCreate();
    const id = await pressGenerate(page);
    // "auto" leaves the provider out.
    const body = (await posted).postDataJSON() as Record<string, unknown>;
    expect(body).toMatchObject({ model: MODEL });
    expect(body).not.toHaveProperty('provider');
    await card(id).locator('img').waitFor();
    expect(await statesOf(id)).toEqual(['pending', 'processing', 'completed']);
    expect(await card(id).getByRole('status').innerText()).toBe('done');
    expect(await card(id).locator('.served').innerText()).toBe('served by hf-endpoint');
    // Drawn from its 256-wide thumbnail (the card is about that wide): the bytes arrived and decoded.
    const width = await eventually('image drawn', async () => {
      const drawn = await card(id)
        .locator('img')
        .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth);
      return drawn > 0 ? drawn : undefined;
    });
    expect(width).toBe(256);
    const record = await (await api()).getGeneration(id);
    const settings = { num_inference_steps: 30, guidance_scale: 7.5, negative_prompt: 'blurry, text', seed: 42 };
    expect(record.settings).toMatchObject({
      width: 768,
      style: 'watercolor',
      model: MODEL,
      provider: null,
      ...settings,
    });
    expect(record.provider).toBe('hf-endpoint');
    // And on to Hugging Face, as the worker sends them.
    const [request] = system.emulator.requestsFor(MODEL).slice(sent);
    expect(request?.body.parameters).toMatchObject({ width: 768, ...settings });
    expect(request?.body.inputs).toMatch(/^A cute cat sitting on a windowsill, watercolor painting/);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-desktop.png'), fullPage: true });
  });

  test('offers the providers a request may name for the chosen model; one this API cannot use is refused at its field', async () => {
    // This API lists one model, served by its one endpoint; its answer gains a second model served
    // by two Inference Providers, so that the provider choices have a model to follow.
    await page.route('**/api/models', async (route) => {
      const response = await route.fetch();
      const envelope = (await response.json()) as { data: ModelList };
      envelope.data.items.push({
        id: ROUTED,
        default: false,
        providers: [
          { provider: 'fal-ai', provider_id: 'fal-ai/routed', status: 'live' },
          { provider: 'together', provider_id: 'routed-turbo', status: 'staging' },
        ],
      });
      envelope.data.items.push({
        id: 'gpt-image-1',
        default: false,
        providers: [{ provider: 'openai', provider_id: 'gpt-image-1', status: 'live' }],
      });
      await route.fulfill({ response, json: envelope });
    });
    await page.reload();
    await page.locator('summary', { hasText: 'Settings' }).click();
    await optionsOf('Model').waitFor(ROUTED);
    expect(await optionsOf('Model').texts()).toEqual([`${MODEL} (default)`, ROUTED, 'gpt-image-1']);
    expect(await select('Model').inputValue()).toBe(MODEL);
    expect(await optionsOf('Provider').texts()).toEqual(['auto']);

    await select('Model').selectOption(ROUTED);
    expect(await optionsOf('Provider').texts()).toEqual(['auto', 'fal-ai', 'together (staging)']);
    expect(await select('Provider').inputValue()).toBe('');
    await select('Provider').selectOption('together');
    // A model that provider does not serve: back to auto.
    await select('Model').selectOption(MODEL);
    expect(await optionsOf('Provider').texts()).toEqual(['auto']);
    expect(await select('Provider').inputValue()).toBe('');
    // An OpenAI model is served only when the request asks for OpenAI: "auto" is not offered.
    await select('Model').selectOption('gpt-image-1');
    expect(await optionsOf('Provider').texts()).toEqual(['openai']);
    expect(await select('Provider').inputValue()).toBe('openai');

    await select('Model').selectOption(ROUTED);
    await select('Provider').selectOption('fal-ai');
    await page.getByLabel('Prompt', { exact: true }).fill('a cat through fal-ai');
    const posted = nextCreate();
    await page.getByRole('button', { name: 'Generate' }).click();
    expect((await posted).postDataJSON()).toMatchObject({ model: ROUTED, provider: 'fal-ai' });
    // It serves one dedicated endpoint (HF_BASE_URL): a request may name no provider.
    const error = page.locator('#generate-error');
    await error.filter({ hasText: 'provider:' }).waitFor();
    expect(await error.innerText()).toMatch(/provider: this deployment serves one dedicated endpoint/);
    expect(await select('Provider').getAttribute('aria-invalid')).toBe('true');
  });

  test('opens an image full size with its settings, downloads it, and reuses its settings', async () => {
    const id = (await newestCard().getAttribute('data-id')) as string;
    await page.getByLabel('Prompt', { exact: true }).fill('something else');
    // Settings other than the generation's, which "use these settings again" puts back.
    await select('Model').selectOption(ROUTED);
    await select('Provider').selectOption('fal-ai');
    await card(id)
      .getByRole('button', { name: /full size/ })
      .click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.locator('#viewer-prompt').innerText()).toBe('A cute cat sitting on a windowsill');
    const listed = await dialog.locator('dl').innerText();
    expect(listed).toMatch(/Served by\s+hf-endpoint[\s\S]*Style\s+watercolor[\s\S]*Seed\s+42/);
    expect(listed).toContain(MODEL);
    // It asked for no provider.
    expect(listed).not.toContain('Provider asked');

    const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByText('Download').click()]);
    expect(download.suggestedFilename()).toBe(`imagegen-${id}.png`);
    const served = await (await api()).getImage(id);
    expect((await readFile(await download.path())).equals(Buffer.from(served.bytes))).toBe(true);

    await dialog.getByRole('button', { name: 'Use these settings again' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.getByLabel('Prompt', { exact: true }).inputValue()).toBe('A cute cat sitting on a windowsill');
    expect(await page.getByLabel('Seed').inputValue()).toBe('42');
    expect(await page.getByLabel('Style').inputValue()).toBe('watercolor');
    expect(await page.getByLabel('Width').inputValue()).toBe('768');
    expect(await select('Model').inputValue()).toBe(MODEL);
    expect(await select('Provider').inputValue()).toBe('');
  });

  test('shows a waiting card its place as the queue moves, and a cold model with its wait', async () => {
    // The only worker slot is held by a job until both cards wait behind it; the first of them then
    // meets a model that is still loading (told after half a second, so "generating" shows first).
    let release = () => undefined as void;
    const released = new Promise<void>((resolve) => (release = resolve));
    system.emulator.script(MODEL, hf.pngWhen(released), hf.coldStart(MODEL, 1, 500), hf.png(1500), hf.png());
    let second: string, third: string;
    try {
      const client = await api();
      const busy = await client.createGeneration({ prompt: 'keeps the only worker busy' });
      await eventually('the worker to take the held job', async () =>
        (await client.getGeneration(busy.id)).status === 'processing' ? true : undefined,
      );
      await recordStates();
      await page.getByLabel('Prompt', { exact: true }).fill('second in line');
      second = await pressGenerate(page);
      await page.getByLabel('Prompt', { exact: true }).fill('third in line');
      third = await pressGenerate(page);
      // The third card has shown its place behind the second before the queue moves.
      await card(third)
        .getByText(/^queued, position 2\b/)
        .waitFor();
    } finally {
      // Also on failure, so that later tests find the worker free.
      release();
    }
    await card(third).and(page.locator('[data-status="completed"]')).waitFor({ timeout: 30_000 });

    const secondTexts = await textsOf(second);
    expectInOrder(secondTexts, [
      /^queued, position 1\b/,
      /^generating$/,
      new RegExp(`^model ${MODEL} is loading \\(about 1 s\\); retrying in (0\\.9|1) s$`),
      /^done$/,
    ]);
    expect(secondTexts.some((text) => text === 'queued')).toBe(false);
    const thirdTexts = await textsOf(third);
    expectInOrder(thirdTexts, [/^queued, position 2\b/, /^queued, position 1\b/, /^generating$/, /^done$/]);
    expect(thirdTexts.some((text) => text === 'queued')).toBe(false);
  });

  test('cancels a slow generation, shows a failed one with its reason, and retries it', async () => {
    system.emulator.script(MODEL, hf.png(20_000));
    await page.getByLabel('Prompt', { exact: true }).fill('a very slow painting');
    await recordStates();
    const slow = await pressGenerate(page);
    await card(slow).and(page.locator('[data-status="processing"]')).waitFor();
    await card(slow).getByRole('button', { name: 'Cancel' }).click();
    await card(slow).and(page.locator('[data-status="canceled"]')).waitFor();
    expect(await card(slow).getByRole('status').innerText()).toBe('canceled');
    expect((await (await api()).getGeneration(slow)).status).toBe('canceled');

    system.emulator.script(MODEL, hf.outOfCredits());
    await page.getByLabel('Prompt', { exact: true }).fill('a painting nobody pays for');
    const broke = await pressGenerate(page);
    await card(broke).and(page.locator('[data-status="failed"]')).waitFor();
    expect(await card(broke).getByRole('status').innerText()).toMatch(/^failed: .*out of credits/);
    expect(await card(broke).getByRole('button', { name: 'Cancel' }).isHidden()).toBe(true);

    await card(broke).getByRole('button', { name: 'Retry' }).click();
    await card(broke).and(page.locator('[data-status="completed"]')).waitFor();
    expect(await statesOf(broke)).toEqual(['pending', 'processing', 'failed', 'pending', 'processing', 'completed']);
    expect((await (await api()).getGeneration(broke)).history).toHaveLength(1);
  });

  test('is usable from the keyboard alone', async () => {
    await page.getByLabel('Prompt', { exact: true }).fill('typed and sent without a mouse');
    await page.getByLabel('Prompt', { exact: true }).focus();
    for (let i = 0; i < 40; i++) {
      const focused = await page.evaluate('document.activeElement?.textContent');
      if (focused === 'Generate') break;
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    await page.locator('li.card', { hasText: 'typed and sent without a mouse' }).waitFor();
  });

  test('pages the gallery newest first as it scrolls, loading images only near the screen', async () => {
    const client = await api();
    for (let i = 0; i < 30; i++) await client.createGeneration({ prompt: `gallery item ${i}` });
    const all: string[] = [];
    for await (const generation of client.generations({ limit: 100 })) all.push(generation.id);
    for (const id of all) await client.waitFor(id).catch(() => undefined);

    const lists: string[] = [];
    const images: string[] = [];
    page.on('request', (request) => {
      const { pathname, search } = new URL(request.url());
      if (pathname === '/api/generations') lists.push(search);
      if (pathname.endsWith('/image')) images.push(pathname + search);
    });
    await page.reload();
    await page.locator('li.card').nth(11).waitFor();
    // The first page only, and only the images on (or near) the screen.
    expect(lists).toHaveLength(1);
    expect(images.length).toBeLessThan(all.filter(Boolean).length);

    const deadline = Date.now() + 30_000;
    while ((await page.locator('li.card').count()) < all.length && Date.now() < deadline) {
      await page.locator('#gallery-end').scrollIntoViewIfNeeded();
      await page.waitForTimeout(200);
    }
    const shown = await page.locator('li.card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-id')));
    expect(shown).toEqual(all);
    expect(lists.length).toBeGreaterThan(2);
    expect(lists.slice(1).every((search) => search.includes('cursor='))).toBe(true);
    expect(await page.locator('#load-more').isHidden()).toBe(true);

    // Each image is fetched once: its thumbnail for the card, its full size when opened (and not
    // again once closed).
    // (Cards near the screen may still be fetching theirs meanwhile, each once.)
    const openedId = images.at(-1)?.split('/')[3] as string;
    expect(all).toContain(openedId);
    await card(openedId)
      .getByRole('button', { name: /full size/ })
      .click();
    await page.locator('#viewer img').and(page.locator('[src^="blob:"]')).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    expect(images.filter((path) => path.split('/')[3] === openedId).map((path) => path.split('/image')[1])).toEqual([
      '?width=256',
      '',
    ]);
    expect(new Set(images).size).toBe(images.length);
  });

  test('on a screen taller than all the cards, loads page after page without any scrolling', async () => {
    const client = await api();
    const all: string[] = [];
    for await (const generation of client.generations({ limit: 100 })) all.push(generation.id);
    // More than two pages of cards (12 each).
    expect(all.length).toBeGreaterThan(24);
    const tall = await browser.newPage({ viewport: { width: 1280, height: 20_000 } });
    await tall.goto(`${system.api.url}/`);
    await tall.getByLabel('Email').fill(email);
    await tall.getByLabel('Password').fill(PASSWORD);
    await tall.getByRole('button', { name: 'Sign in' }).click();
    // The end of the list stays on the screen as each page arrives: nothing scrolls, so its
    // observer never sees it come near again, and the next page has to be asked for all the same.
    await tall
      .locator('li.card')
      .nth(all.length - 1)
      .waitFor({ timeout: 15_000 });
    const shown = await tall.locator('li.card').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-id')));
    expect(shown).toEqual(all);
    expect(await tall.locator('#load-more').isHidden()).toBe(true);
    // The premise: every card fit on the screen, so none of this came from scrolling.
    expect(await tall.evaluate('document.documentElement.scrollHeight <= window.innerHeight')).toBe(true);
    await tall.close();
  });

  test('fits a phone-sized screen', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto(`${system.api.url}/`);
    await phone.getByLabel('Email').fill(email);
    await phone.getByLabel('Password').fill(PASSWORD);
    await phone.getByRole('button', { name: 'Sign in' }).click();
    await phone.locator('li.card img').first().waitFor();
    // With the settings open too, whose model ids are long.
    await phone.locator('summary', { hasText: 'Settings' }).click();
    await select('Model', phone).locator('option', { hasText: MODEL }).waitFor({ state: 'attached' });
    const overflow = (await phone.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    // Nothing but the session is kept in the browser.
    expect(await phone.evaluate('Object.keys(localStorage)')).toEqual(['imagegen.session']);
    await phone.screenshot({ path: join(ARTIFACTS, 'playground-phone.png') });
    await phone.close();
  });

  /** Generates an image from the page and opens it full size; resolves with its id. */
  async function openNew(prompt: string): Promise<string> {
    await page.getByLabel('Prompt', { exact: true }).fill(prompt);
    const id = await pressGenerate(page);
    await card(id).and(page.locator('[data-status="completed"]')).waitFor();
    await card(id)
      .getByRole('button', { name: /full size/ })
      .click();
    await page.getByRole('dialog').waitFor();
    return id;
  }

  test('asks before deleting from the full-size view: "No" keeps the image, and a refused delete shows the API’s reason', async () => {
    const id = await openNew('an image to keep');
    const dialog = page.getByRole('dialog');
    const question = dialog.getByRole('group', { name: 'Delete this image for good?' });
    expect(await question.isHidden()).toBe(true);
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await question.waitFor();
    // Focus is on the safe answer: a second Enter does not delete.
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('No, keep it');
    await question.getByRole('button', { name: 'No, keep it' }).click();
    await question.waitFor({ state: 'hidden' });
    expect(await dialog.getByRole('button', { name: 'Delete', exact: true }).isVisible()).toBe(true);

    // The API refuses (as a proxy or a failing dependency might): the viewer stays, with the reason.
    await page.route(`**/api/generations/${id}`, (route) =>
      route.request().method() === 'DELETE'
        ? route.fulfill({ status: 500, json: { success: false, message: 'Storage is unavailable', data: null } })
        : route.fallback(),
    );
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await question.getByRole('button', { name: 'Yes, delete' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'Storage is unavailable' }).waitFor();
    expect(await dialog.isVisible()).toBe(true);
    await page.unroute(`**/api/generations/${id}`);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });

    expect(await card(id).count()).toBe(1);
    expect((await (await api()).getGeneration(id)).status).toBe('completed');
  });

  test('deletes an image from the full-size view once confirmed: the viewer closes, the card goes, and the API no longer has it', async () => {
    const kept = await openNew('an image to keep too');
    await page.keyboard.press('Escape');
    const id = await openNew('an image to throw away');
    const dialog = page.getByRole('dialog');
    // Opened again, the viewer asks afresh: no question left over from the last one.
    expect(await dialog.getByRole('group', { name: 'Delete this image for good?' }).isHidden()).toBe(true);
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.getByRole('button', { name: 'Yes, delete' }).click();
    expect((await deleted).status()).toBe(204);
    await dialog.waitFor({ state: 'hidden' });
    await card(id).waitFor({ state: 'detached' });
    // The card after it takes the focus the closed viewer gave back.
    expect(await page.evaluate('document.activeElement?.closest("li.card")?.dataset.id')).toBe(kept);

    await expect((await api()).getGeneration(id)).rejects.toMatchObject({ status: 404 });
    // And it stays gone after a reload.
    await page.reload();
    await card(kept).waitFor();
    expect(await card(id).count()).toBe(0);
  });
});
