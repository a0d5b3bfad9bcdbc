import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ImagegenClient, type Generation } from '@imagegen/client';
import { DEFAULT_HF_MODEL } from '@imagegen/shared';
import { ARTIFACTS, launchBrowser, pressGenerate } from '../support/browser';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { startSystem, type System } from '../support/system';

const MODEL = DEFAULT_HF_MODEL;
const PASSWORD = 'password123';
/** Every user's daily quota here: room for the gallery's 20 images, and an edge the quota test reaches. */
const DAILY_QUOTA = 24;
const GALLERY_SIZE = 20;
/** An image of a generation, full size or a thumbnail: `/api/generations/:id/image` or `/images/:index`. */
const IMAGE_PATH = /^\/api\/generations\/([0-9a-f]{24})\/(?:image|images\/(\d+))$/;

/**
 * A 512×512 PNG with detail at every scale (value noise over octaves from 64 pixels down to one),
 * so that it weighs what a generated picture does (about 500 kB) and so does its thumbnail: plain
 * noise would average away in a thumbnail, and the emulator's gradients compress to almost nothing.
 */
function photoLike(seed: number, size = 512): Buffer {
  let state = (seed * 2654435761) >>> 0;
  const random = () => (state = (state * 1664525 + 1013904223) >>> 0) / 4294967296;
  const sum = new Float32Array(size * size * 3);
  for (let cell = 64; cell >= 1; cell /= 2) {
    const side = size / cell + 1;
    const amplitude = 60 * Math.sqrt(cell / 64);
    const grid = Float32Array.from({ length: side * side * 3 }, () => (random() - 0.5) * 2 * amplitude);
    const at = (gx: number, gy: number, c: number) => grid[(gy * side + gx) * 3 + c] as number;
    for (let y = 0; y < size; y++) {
      const gy = Math.floor(y / cell);
      const fy = y / cell - gy;
      for (let x = 0; x < size; x++) {
        const gx = Math.floor(x / cell);
        const fx = x / cell - gx;
        for (let c = 0; c < 3; c++) {
          const top = at(gx, gy, c) * (1 - fx) + at(gx + 1, gy, c) * fx;
          const bottom = at(gx, gy + 1, c) * (1 - fx) + at(gx + 1, gy + 1, c) * fx;
          const k = (y * size + x) * 3 + c;
          sum[k] = (sum[k] as number) + top * (1 - fy) + bottom * fy;
        }
      }
    }
  }
  const png = new PNG({ width: size, height: size });
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++)
      png.data[i * 4 + c] = Math.max(0, Math.min(255, Math.round(128 + (sum[i * 3 + c] ?? 0))));
    png.data[i * 4 + 3] = 255;
  }
  // One fixed row filter: pngjs's adaptive filtering takes seconds under Jest.
  return PNG.sync.write(png, { colorType: 2, filterType: 1 });
}

/** An image request the page made, as the browser's network log tells it. */
interface ImageFetch {
  id: string;
  index: number;
  /** The thumbnail width asked for; null for the full-size image. */
  width: string | null;
  /** Bytes that came over the wire for it, headers included (CDP `encodedDataLength`). */
  bytes: number;
}

/** Records, through the DevTools protocol, every image of a generation the page fetches, and what it cost. */
async function imageLog(page: Page): Promise<{ fetches: ImageFetch[] }> {
  const cdp = await page.context().newCDPSession(page);
  const urls = new Map<string, URL>();
  const log = { fetches: [] as ImageFetch[] };
  cdp.on('Network.requestWillBeSent', ({ requestId, request }) => urls.set(requestId, new URL(request.url)));
  cdp.on('Network.loadingFinished', ({ requestId, encodedDataLength }) => {
    const url = urls.get(requestId);
    const match = url && IMAGE_PATH.exec(url.pathname);
    if (!url || !match) return;
    log.fetches.push({
      id: match[1] as string,
      index: Number(match[2] ?? 0),
      width: url.searchParams.get('width'),
      bytes: encodedDataLength,
    });
  });
  await cdp.send('Network.enable');
  return log;
}

const kB = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;

/** The playground's gallery with several images per generation, thumbnails and the daily quota, in headless Chromium. */
describe('the web playground: grids, thumbnails and the quota line', () => {
  let system: System;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let accounts = 0;
  /** Distinct photo-like PNGs, which the emulator answers in turn. */
  let photos: Buffer[];

  beforeAll(async () => {
    photos = [1, 2, 3, 4].map((seed) => photoLike(seed));
    system = await startSystem({
      apiEnv: { QUOTA_IMAGES_PER_DAY: String(DAILY_QUOTA), MAX_IN_FLIGHT_PER_USER: '100', CREATE_RATE_LIMIT: '1000' },
      workerEnv: { HF_TIMEOUT_MS: '10000' },
    });
    browser = await launchBrowser();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  /** A page of a new browser (its own storage), at `/`. */
  async function newPage(options: { deviceScaleFactor?: number } = {}): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
      ...options,
    });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${system.api.url}/`);
    return page;
  }

  /** Creates an account from the page and waits for the empty gallery; resolves with its email. */
  async function signUp(page: Page): Promise<string> {
    const email = `gallery-${process.pid}-${++accounts}@example.com`;
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel('Name').fill('Gallery User');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Nothing yet').waitFor();
    return email;
  }

  async function signIn(page: Page, email: string): Promise<void> {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** The API, as the page's signed-in user. */
  async function api(page: Page): Promise<ImagegenClient> {
    const saved = (await page.evaluate(`localStorage.getItem('imagegen.session')`)) as string | null;
    const { token } = JSON.parse(saved ?? '{}') as { token: string };
    return new ImagegenClient({ baseUrl: system.api.url, token });
  }

  /** The form's "Images" select (by the start of its label: "Your images" names the gallery). */
  const imageCount = (page: Page) => page.getByLabel(/^Images/);

  /** The widths the images of this locator were drawn from, once every one of them has been. */
  function drawnWidths(page: Page, selector: string, count: number): Promise<number[]> {
    return eventually(`${count} images drawn in ${selector}`, async () => {
      const widths = (await page
        .locator(selector)
        .evaluateAll((imgs) =>
          imgs.map((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        )) as number[];
      return widths.length === count && widths.every((width) => width > 0) ? widths : undefined;
    });
  }

  test('a generation of four shows a 2×2 grid of thumbnails on its card, and all four full size, each downloadable, from the keyboard', async () => {
    const page = await newPage();
    await signUp(page);
    const log = await imageLog(page);
    system.emulator.script(MODEL, ...photos.map((photo) => hf.bytes('image/png', photo)));
    await page.getByLabel('Prompt', { exact: true }).fill('four cats on four windowsills');
    await imageCount(page).selectOption('4');
    const posted = page.waitForRequest(
      (r) => r.method() === 'POST' && new URL(r.url()).pathname === '/api/generations',
    );
    const id = await pressGenerate(page);
    expect((await posted).postDataJSON()).toMatchObject({ num_images: 4 });

    const card = page.locator(`li.card[data-id="${id}"]`);
    await card.and(page.locator('[data-status="completed"]')).waitFor({ timeout: 30_000 });
    // Four cells of about 120 pixels: 128-wide thumbnails, never the full-size bytes.
    expect(await drawnWidths(page, `li.card[data-id="${id}"] img`, 4)).toEqual([128, 128, 128, 128]);
    const boxes = await Promise.all((await card.locator('img').all()).map(async (img) => (await img.boundingBox())!));
    expect(new Set(boxes.map((box) => Math.round(box.x))).size).toBe(2);
    expect(new Set(boxes.map((box) => Math.round(box.y))).size).toBe(2);
    expect(boxes[1]!.x).toBeGreaterThan(boxes[0]!.x);
    expect(boxes[2]!.y).toBeGreaterThan(boxes[0]!.y);
    await eventually('the four thumbnails in the network log', async () =>
      log.fetches.length === 4 ? true : undefined,
    );
    expect(log.fetches.map(({ index, width }) => [index, width])).toEqual(
      expect.arrayContaining([0, 1, 2, 3].map((index) => [index, '128'])),
    );
    const record = await (await api(page)).getGeneration(id);
    expect(record.settings.num_images).toBe(4);
    expect(record.images.map((image) => image.index)).toEqual([0, 1, 2, 3]);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-grid.png') });

    // From the keyboard: the card's button opens the viewer, Tab walks the four downloads, Escape closes.
    await card.getByRole('button', { name: /full size/ }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await drawnWidths(page, '#viewer-images img', 4)).toEqual([512, 512, 512, 512]);
    const links = ['Download 1 of 4', 'Download 2 of 4', 'Download 3 of 4', 'Download 4 of 4'];
    expect(await page.evaluate('document.activeElement?.textContent')).toBe(links[0]);
    for (const link of links.slice(1)) {
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe(link);
    }
    const viewerBoxes = await Promise.all(
      (await dialog.locator('img').all()).map(async (img) => (await img.boundingBox())!),
    );
    expect(new Set(viewerBoxes.map((box) => Math.round(box.y))).size).toBe(2);
    // Each download is its own image, as the API serves it.
    const client = await api(page);
    const downloads = new Set<string>();
    for (const [index, link] of links.entries()) {
      const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByText(link).click()]);
      expect(download.suggestedFilename()).toBe(`imagegen-${id}-${index + 1}.png`);
      const bytes = await readFile((await download.path())!);
      expect(bytes.equals(Buffer.from((await client.getImage(id, { index })).bytes))).toBe(true);
      downloads.add(bytes.toString('base64'));
    }
    expect(downloads.size).toBe(4);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-grid-viewer.png') });
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.evaluate('document.activeElement?.closest("li.card")?.dataset.id')).toBe(id);
    // The viewer fetched the four full-size images, once each; the card none of them.
    const full = log.fetches.filter((fetch) => fetch.width === null);
    expect(full.map((fetch) => fetch.index).sort()).toEqual([0, 1, 2, 3]);
  });

  describe('a gallery screen of 20 cards', () => {
    let email: string;
    let generations: Generation[];

    beforeAll(async () => {
      const page = await newPage();
      email = await signUp(page);
      const client = await api(page);
      system.emulator.script(
        MODEL,
        ...Array.from({ length: GALLERY_SIZE }, (_, i) => hf.bytes('image/png', photos[i % 4]!)),
      );
      const created = [];
      for (let i = 0; i < GALLERY_SIZE; i++)
        created.push(await client.createGeneration({ prompt: `gallery item ${i}` }));
      generations = await Promise.all(created.map((generation) => client.waitFor(generation)));
      await page.close();
    }, 120_000);

    /** Signs in on a new page, scrolls through the whole gallery, and resolves with the images it fetched. */
    async function browse(options: { deviceScaleFactor?: number }): Promise<{ page: Page; fetches: ImageFetch[] }> {
      const page = await newPage(options);
      const log = await imageLog(page);
      await signIn(page, email);
      await page.locator('li.card img').first().waitFor();
      await drawnWidths(page, 'li.card:nth-child(1) img', 1);
      // Lazily: the first page of cards, and of those only the ones near the screen.
      expect(await page.locator('li.card').count()).toBeLessThan(GALLERY_SIZE);
      expect(log.fetches.length).toBeLessThan(GALLERY_SIZE);

      await eventually('every card listed', async () => {
        await page.locator('#gallery-end').scrollIntoViewIfNeeded();
        return (await page.locator('li.card').count()) === GALLERY_SIZE ? true : undefined;
      });
      // As a reader scrolls: every card comes near the screen in turn.
      for (const card of await page.locator('li.card').all()) await card.scrollIntoViewIfNeeded();
      await drawnWidths(page, 'li.card img', GALLERY_SIZE);
      await eventually('every fetch finished in the network log', async () =>
        log.fetches.length >= GALLERY_SIZE ? true : undefined,
      );
      return { page, fetches: log.fetches };
    }

    test('fetches only thumbnails (256 wide), each once, and far fewer bytes than the full-size images', async () => {
      const { page, fetches } = await browse({});
      expect(fetches.filter((fetch) => fetch.width === null)).toEqual([]);
      expect(fetches.every((fetch) => fetch.width === '256' && fetch.index === 0)).toBe(true);
      expect(new Set(fetches.map((fetch) => fetch.id))).toEqual(new Set(generations.map((g) => g.id)));
      expect(fetches).toHaveLength(GALLERY_SIZE);
      expect(await drawnWidths(page, 'li.card img', GALLERY_SIZE)).toEqual(Array(GALLERY_SIZE).fill(256));

      const thumbnails = fetches.reduce((sum, fetch) => sum + fetch.bytes, 0);
      const fullSize = generations.reduce((sum, g) => sum + (g.image?.size_bytes ?? 0), 0);
      console.log(
        `Gallery screen of ${GALLERY_SIZE} cards (512×512 PNGs): full size ${fullSize} bytes (${kB(fullSize)}, ` +
          `the images' size_bytes) before thumbnails; ${thumbnails} bytes (${kB(thumbnails)}, over the wire, ` +
          `headers included) with 256-wide WebP thumbnails: ${(fullSize / thumbnails).toFixed(1)}× less.`,
      );
      expect(fullSize).toBeGreaterThan(GALLERY_SIZE * 300_000);
      expect(thumbnails * 10).toBeLessThan(fullSize);
    });

    test('on a high-DPR screen, fetches 512-wide thumbnails, still never the full-size images', async () => {
      const { fetches } = await browse({ deviceScaleFactor: 2 });
      expect(fetches).toHaveLength(GALLERY_SIZE);
      expect(fetches.every((fetch) => fetch.width === '512')).toBe(true);
      const thumbnails = fetches.reduce((sum, fetch) => sum + fetch.bytes, 0);
      console.log(
        `Gallery screen of ${GALLERY_SIZE} cards at device pixel ratio 2: ${thumbnails} bytes (${kB(thumbnails)}) ` +
          `with 512-wide WebP thumbnails.`,
      );
    });
  });

  test('shows "n of m images left today", which drops as images are made; a create past the quota is refused at the form', async () => {
    const page = await newPage();
    await signUp(page);
    const line = page.locator('#quota');
    await line.filter({ hasText: `${DAILY_QUOTA} of ${DAILY_QUOTA} images left today` }).waitFor();

    await page.getByLabel('Prompt', { exact: true }).fill('two quick sketches');
    await imageCount(page).selectOption('2');
    const id = await pressGenerate(page);
    await page.locator(`li.card[data-id="${id}"][data-status="completed"]`).waitFor({ timeout: 30_000 });
    await line.filter({ hasText: `${DAILY_QUOTA - 2} of ${DAILY_QUOTA} images left today` }).waitFor();

    // Elsewhere (another tab, the CLI), all of the day's images but two are used: 2 + 5 × 4 = 22.
    const client = await api(page);
    const others = [];
    for (let i = 0; i < 5; i++) others.push(await client.createGeneration({ prompt: 'made elsewhere', num_images: 4 }));
    await Promise.all(others.map((generation) => client.waitFor(generation)));

    await imageCount(page).selectOption('4');
    const refused = page.waitForResponse(
      (r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/generations',
    );
    await page.getByRole('button', { name: 'Generate' }).click();
    expect((await refused).status()).toBe(429);
    const error = page.locator('#generate-error');
    await error.filter({ hasText: /daily image quota/i }).waitFor();
    await line.filter({ hasText: `2 of ${DAILY_QUOTA} images left today` }).waitFor();

    await imageCount(page).selectOption('2');
    await pressGenerate(page);
    expect(await error.innerText()).toBe('');
    await line.filter({ hasText: new RegExp(`^0 of ${DAILY_QUOTA} images left today`) }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'playground-quota.png') });
  });

  test('hides the line when there is no daily quota', async () => {
    const page = await newPage();
    await signUp(page);
    const line = page.locator('#quota');
    await line.filter({ hasText: 'images left today' }).waitFor();
    // As an API without QUOTA_IMAGES_PER_DAY answers: no limit, nothing remaining to count.
    await page.route(
      (url) => url.pathname === '/api/usage',
      async (route) => {
        const response = await route.fetch();
        const envelope = (await response.json()) as { data: { quota: { day: Record<string, unknown> } } };
        Object.assign(envelope.data.quota.day, { limit: null, remaining: null });
        await route.fulfill({ response, json: envelope });
      },
    );
    await page.getByLabel('Prompt', { exact: true }).fill('no quota to count');
    await pressGenerate(page);
    await line.waitFor({ state: 'hidden' });
    // The refresh at the generation's end may still be on its way when the page closes.
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  });
});
