import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { imageSize } from 'image-size';
import type { Browser } from 'playwright-core';
import type { ApiSuccess, Generation } from '@imagegen/shared';
import { launchBrowser } from '../support/browser';
import { hf } from '../support/hf-emulator';
import { startSystem, type System } from '../support/system';

/** The original description of the service, whose examples its first clients were written from. */
const SEED = resolve(__dirname, '../../../shared/seed/000_0b0af8f632011569.txt');
/** Where the seed's examples send their requests, and the token placeholders they carry. */
const SEED_HOST = 'http://localhost:8000';

/**
 * Runs a program to its end without blocking this process, which serves the HF emulator the
 * services call meanwhile.
 */
async function run(file: string, args: string[], input?: string): Promise<string> {
  const running = promisify(execFile)(file, args, { encoding: 'utf8' });
  if (input !== undefined) running.child.stdin?.end(input);
  return (await running).stdout;
}

/** The body of the fenced block of `language` that follows `heading` in the seed. */
function seedBlock(heading: string, language: string): string {
  const text = readFileSync(SEED, 'utf8');
  const at = text.indexOf(`### ${heading}`);
  if (at < 0) throw new Error(`the seed has no section "${heading}"`);
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(text.slice(at));
  if (!match) throw new Error(`the seed's "${heading}" has no ${language} block`);
  return match[1]!;
}

/** The image bytes of a data URL, checked to be a PNG of the seed's default size. */
function pngOf(dataUrl: string): Buffer {
  const match = /^data:image\/png;base64,(.+)$/.exec(dataUrl);
  if (!match) throw new Error(`not a PNG data URL: ${dataUrl.slice(0, 60)}`);
  const bytes = Buffer.from(match[1]!, 'base64');
  expect(imageSize(bytes)).toMatchObject({ type: 'png', width: 512, height: 512 });
  return bytes;
}

/**
 * The seed's cURL, Python and JavaScript examples, run exactly as the seed prints them with only
 * the host and the token filled in, against a server with CREATE_WAIT_SECONDS=60: each reads the
 * image from the create's answer, as it did when the API answered synchronously.
 */
describe("the seed's own examples, unchanged, with CREATE_WAIT_SECONDS=60", () => {
  let system: System;
  let site: Server;
  let siteUrl: string;
  let browser: Browser;
  let token: string;

  const filledIn = (code: string) =>
    code.replaceAll(SEED_HOST, system.api.url).replaceAll('YOUR_JWT_TOKEN', token).replaceAll('your_jwt_token', token);

  beforeAll(async () => {
    if (!existsSync(SEED)) throw new Error(`the seed is not at ${SEED}`);
    // A page of another origin, as the seed's browser snippet would run on a site of its own.
    site = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><body>'),
    );
    site.listen(0, '127.0.0.1');
    await once(site, 'listening');
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    system = await startSystem({ apiEnv: { CREATE_WAIT_SECONDS: '60', CORS_ORIGINS: siteUrl } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    site?.close();
    await system?.stop();
  });

  test("when the seed's cURL example logs in and generates, then the create's answer carries the completed record and its PNG data URL", async () => {
    const [login = '', generate = ''] = seedBlock('cURL Example', 'bash').split('# Generate image');
    const loggedIn = JSON.parse(await run('bash', ['-c', filledIn(login)])) as ApiSuccess<{ token: string }>;
    token = loggedIn.data.token;
    const answer = JSON.parse(await run('bash', ['-c', filledIn(generate)])) as ApiSuccess<Generation>;
    expect({ answer }).toMatchObject({ answer: { success: true, data: { status: 'completed', error: null } } });
    expect(answer.data.prompt).toBe('A beautiful sunset over mountains, vibrant colors');
    pngOf(answer.data.image_url!);
  });

  test("when the seed's Python example posts its prompt, then it prints the start of the image's data URL", async () => {
    const printed = await run('python3', ['-'], filledIn(seedBlock('Python Example', 'python')));
    expect(printed).toMatch(/^Generated image: data:image\/png;base64,iVBORw0KGgo.{17}\.\.\.\n$/);
  });

  test("when the seed's JavaScript example runs in a browser page, then the page shows the generated image", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(siteUrl);
      await page.evaluate(filledIn(seedBlock('JavaScript Example', 'javascript')));
      const img = page.locator('img');
      await img.waitFor({ timeout: 30_000 });
      const src = (await img.getAttribute('src')) ?? '';
      pngOf(src);
      // The browser decoded it: an image it could not read would have no natural width.
      await page.waitForFunction(`document.querySelector('img')?.naturalWidth === 512`);
    } finally {
      await page.close();
    }
  });

  test('when a create says Prefer: respond-async or a shorter wait, then that preference wins over CREATE_WAIT_SECONDS', async () => {
    const model = 'test/seed-held';
    let release = () => {};
    system.emulator.always(model, hf.pngWhen(new Promise<void>((resolve) => (release = resolve))));
    const create = (prefer: string) =>
      fetch(`${system.api.url}/api/generations/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, prefer },
        body: JSON.stringify({ prompt: 'a picture that takes its time', model }),
      });
    try {
      // Answered with the record as created: a create that waited reads it again at the end of
      // its wait, by when the worker has it (processing, with Hugging Face holding its answer).
      const async = await create('respond-async');
      expect(async.status).toBe(202);
      expect(((await async.json()) as ApiSuccess<Generation>).data.status).toBe('pending');
      expect(async.headers.get('preference-applied')).toBeNull();
      const short = await create('wait=1');
      expect(short.status).toBe(202);
      expect(short.headers.get('preference-applied')).toBe('wait=1');
      expect(((await short.json()) as ApiSuccess<Generation>).data.status).toBe('processing');
    } finally {
      release();
    }
  });
});
