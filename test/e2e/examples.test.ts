import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { imageSize } from 'image-size';
import type { Browser, Page } from 'playwright-core';
import type { ApiSuccess, Generation } from '@imagegen/shared';
import { freePort } from '@imagegen/devstack';
import { ARTIFACTS, launchBrowser } from '../support/browser';
import { hf } from '../support/hf-emulator';
import { startSystem, type System } from '../support/system';

const EXAMPLES = resolve(__dirname, '../../examples');
const PASSWORD = 'password123';

let accounts = 0;
const newEmail = (label: string) => `${label}-${process.pid}-${++accounts}@example.com`;

const listening = async (server: Server): Promise<string> => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/** `examples/browser` over HTTP, as a site of its own (another origin than the API's). */
async function serveBrowserExample(): Promise<{ url: string; close(): void }> {
  const files: Record<string, [string, string]> = {
    '/': ['index.html', 'text/html; charset=utf-8'],
    '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  };
  const server = createHttpServer((req, res) => {
    const file = files[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[1] }).end(readFileSync(join(EXAMPLES, 'browser', file[0])));
  });
  return { url: await listening(server), close: () => server.close() };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with the examples' settings on top of this environment. */
function run(command: string[], env: Record<string, string>): Promise<Run> {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const has = (script: string) => spawnSync('bash', ['-c', script], { stdio: 'ignore' }).status === 0;

/** The command-line examples, each runnable only where its tools are installed. */
const CLI_EXAMPLES = [
  {
    name: 'curl.sh',
    command: ['bash', join(EXAMPLES, 'curl.sh')],
    available: has('command -v curl && command -v jq'),
    needs: 'curl and jq',
  },
  {
    name: 'python/generate.py',
    command: ['python3', join(EXAMPLES, 'python/generate.py')],
    available: has("python3 -c 'import requests'"),
    needs: 'python3 with requests',
  },
];

describe('the examples against the running services', () => {
  let system: System;
  let site: Awaited<ReturnType<typeof serveBrowserExample>>;
  let workdir: string;

  beforeAll(async () => {
    site = await serveBrowserExample();
    // The stream token's `url` is under PUBLIC_BASE_URL, so the API's own address must be known
    // before it starts: its port is chosen here.
    const port = String(await freePort());
    const apiEnv = { PORT: port, PUBLIC_BASE_URL: `http://127.0.0.1:${port}`, CORS_ORIGINS: site.url };
    system = await startSystem({ apiEnv });
    workdir = mkdtempSync(join(tmpdir(), 'imagegen-examples-'));
  });

  afterAll(async () => {
    site?.close();
    await system?.stop();
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  /** The record and served image of the generation `email`'s account made last. */
  async function lastGeneration(email: string): Promise<{ record: Generation; served: Buffer }> {
    const client = system.client();
    await client.login(email, PASSWORD);
    const [latest] = (await client.list()).items;
    const reply = await client.get(latest!.id);
    const image = await client.image(latest!.id);
    expect(image.status).toBe(200);
    return { record: (reply.body as ApiSuccess<Generation>).data, served: image.bytes };
  }

  for (const example of CLI_EXAMPLES) {
    const suite = example.available ? describe : describe.skip;
    const title = example.available ? example.name : `${example.name} (SKIPPED: needs ${example.needs})`;

    suite(title, () => {
      const runExample = (args: string[], env: Record<string, string>) =>
        run([...example.command, ...args], {
          IMAGEGEN_URL: system.api.url,
          IMAGEGEN_PASSWORD: PASSWORD,
          IMAGEGEN_MODEL: '',
          IMAGEGEN_TIMEOUT: '60',
          ...env,
        });

      test('when run with a prompt, then it saves the completed image, byte for byte what the API serves', async () => {
        const email = newEmail('cli');
        // Quotes, a dollar sign and an ampersand: the prompt must reach the model as typed.
        const prompt = `A "quoted" cat & a $HOME sign, ${example.name}`;
        const output = join(workdir, `${example.name.replace(/\W/g, '-')}.png`);

        const result = await runExample([output, prompt], { IMAGEGEN_EMAIL: email });
        expect(result).toMatchObject({ code: 0, stderr: '' });
        expect(result.stdout).toMatch(/: completed\n/);
        expect(result.stdout).toContain(`saved image/png 512x512 to ${output}`);

        const { record, served } = await lastGeneration(email);
        expect(record).toMatchObject({ status: 'completed', prompt });
        expect(result.stdout).toContain(`generation ${record.id}: pending`);
        const saved = readFileSync(output);
        expect(imageSize(saved)).toMatchObject({ type: 'png', width: 512, height: 512 });
        expect(saved.equals(served)).toBe(true);
        expect(system.emulator.requests.map((r) => r.body.inputs)).toContain(prompt);
      });

      test('when the generation fails, then it exits non-zero with the record’s error', async () => {
        const model = `test/missing-${example.name.replace(/\W/g, '-')}`;
        system.emulator.always(model, hf.notFound(model));
        const output = join(workdir, 'never-written.png');

        const result = await runExample([output], { IMAGEGEN_EMAIL: newEmail('cli'), IMAGEGEN_MODEL: model });
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/generation [0-9a-f]{24} failed: /);
        expect(result.stderr).toContain(`Model ${model} was not found on Hugging Face`);
        expect(() => readFileSync(output)).toThrow();
      });

      test('when the password is wrong, then it exits non-zero with the server’s message', async () => {
        const email = newEmail('cli');
        await system.client().login(email, PASSWORD);

        const result = await runExample([join(workdir, 'never-written.png')], {
          IMAGEGEN_EMAIL: email,
          IMAGEGEN_PASSWORD: 'not-the-password',
        });
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('Invalid email or password');
        expect(result.stdout).not.toContain('generation');
      });
    });
  }

  describe('browser/index.html in headless Chromium, served from another origin', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await launchBrowser();
    });

    afterAll(async () => {
      await browser?.close();
    });

    async function submit(page: Page, email: string, password: string, prompt: string): Promise<void> {
      await page.goto(site.url);
      await page.getByLabel('API').fill(system.api.url);
      await page.getByLabel('Email').fill(email);
      await page.getByLabel('Password').fill(password);
      await page.getByLabel('Prompt').fill(prompt);
      await page.getByRole('button', { name: 'Generate' }).click();
    }

    /** Waits for the generated image and checks it against the generation `email` made last. */
    async function expectShownImage(page: Page, email: string): Promise<void> {
      const image = page.locator('#result');
      await image.waitFor({ state: 'visible' });
      const { record, served } = await lastGeneration(email);
      expect(record.status).toBe('completed');
      expect(await image.getAttribute('src')).toBe(record.image_url);
      const shown = await image.evaluate((img: { naturalWidth: number; naturalHeight: number }) => ({
        width: img.naturalWidth,
        height: img.naturalHeight,
      }));
      const { width, height } = imageSize(served);
      expect(shown).toEqual({ width, height });
    }

    test('when a user submits the form, then it follows the live events and shows the image', async () => {
      const page = await browser.newPage();
      const streams: string[] = [];
      page.on('request', (req) => {
        if (req.url().includes('/events?token=')) streams.push(req.url());
      });
      const email = newEmail('browser');

      await submit(page, email, PASSWORD, 'A futuristic cityscape at night');
      await expectShownImage(page, email);

      // The stream token's URL (under PUBLIC_BASE_URL) was opened, and its events were shown.
      expect(streams[0]).toMatch(new RegExp(`^${system.api.url}/api/generations/[0-9a-f]{24}/events\\?token=`));
      const steps = await page.locator('#progress li').allInnerTexts();
      expect(steps).toEqual(['logging in', 'pending', 'processing', 'completed']);
      expect(await page.getByRole('status').innerText()).toBe('completed');
      await page.screenshot({ path: join(ARTIFACTS, 'examples-browser.png') });
      await page.close();
    });

    test('when the event stream cannot be opened, then it polls instead and still shows the image', async () => {
      const page = await browser.newPage();
      await page.route(/\/events\?token=/, (route) => route.abort());
      const email = newEmail('browser');

      await submit(page, email, PASSWORD, 'A lighthouse in a storm');
      await expectShownImage(page, email);

      const steps = await page.locator('#progress li').allInnerTexts();
      expect(steps).toContain('live updates unavailable; polling');
      expect(steps.at(-1)).toBe('completed');
      await page.close();
    });

    test('when the password is wrong, then it shows the server’s message and no image', async () => {
      const page = await browser.newPage();
      const email = newEmail('browser');
      await system.client().login(email, PASSWORD);

      await submit(page, email, 'not-the-password', 'A red bicycle');
      await page.getByRole('status').filter({ hasText: 'error: Invalid email or password' }).waitFor();
      expect(await page.locator('#result').isHidden()).toBe(true);
      await page.close();
    });
  });
});
