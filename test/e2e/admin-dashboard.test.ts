import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, launchBrowser } from '../support/browser';
import { hf } from '../support/hf-emulator';
import { newUser, startSystem, type System } from '../support/system';

interface QueueOverview {
  name: string;
  counts: Record<string, number>;
  workers: number;
  paused: boolean;
}

const ADMIN = { email: 'root@example.com', password: 'correct horse battery staple' };

describe('the admin dashboard in a real browser', () => {
  let system: System;
  let browser: Browser;

  beforeAll(async () => {
    system = await startSystem({ apiEnv: { ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password } });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await system?.stop();
  });

  async function signIn(page: Page): Promise<void> {
    await page.goto(`${system.api.url}/admin/queues`);
    // No session yet: the dashboard sends the browser to the form.
    expect(new URL(page.url()).pathname).toBe('/admin/login');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${system.api.url}/admin/queues`);
  }

  test('when an admin signs in, opens a failed job and retries it, then the generation completes', async () => {
    // A model that is missing at first, so the generation fails; it exists by the time of the retry.
    system.emulator.always('test/flaky-model', hf.notFound('test/flaky-model'));
    const alice = await newUser(system, 'alice');
    const created = await alice.create({ prompt: 'a lighthouse in a storm', model: 'test/flaky-model' });
    expect((await alice.waitFor(created.id)).status).toBe('failed');

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(page);

    // The overview shows the generations queue with its failed job counted.
    const card = page.locator('[class*="card"]', { has: page.getByText('generations', { exact: true }) }).first();
    await card
      .getByText(/failed/i)
      .first()
      .waitFor();
    expect(await card.innerText()).toMatch(/failed\s*1/i);
    await page.screenshot({ path: join(ARTIFACTS, 'admin-dashboard-overview.png') });

    // Open the failed job and retry it.
    await page.goto(`${system.api.url}/admin/queues/queue/generations?status=failed`);
    const job = page.locator('[class*="card"]', { has: page.getByText(created.id, { exact: true }) }).first();
    await job.getByText(/was not found on Hugging Face/).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'admin-dashboard-failed-job.png') });
    system.emulator.always('test/flaky-model', hf.png());
    await job.locator('button:has(svg.lucide-refresh-cw)').click();
    const retried = page.waitForResponse((res) => res.request().method() === 'PUT' && /\/retry$/.test(res.url()));
    await page.getByRole('button', { name: 'Confirm' }).click();
    // Through our route, with the session's CSRF token that bull-board's client copied from its cookie.
    expect((await retried).status()).toBe(204);

    // Clients polling see the new run, and it completes.
    const done = await alice.waitFor(created.id, ['completed']);
    expect(done).toMatchObject({ status: 'completed', error: null });
    expect(done.history).toEqual([expect.objectContaining({ status: 'failed' })]);
    expect(done.attempts).toBe(2);

    // The retry is the generation's second run, whose job is its own (id `<generation>_2`).
    await page.goto(`${system.api.url}/admin/queues/queue/generations?status=completed`);
    await page.getByText(`${created.id}_2`, { exact: true }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'admin-dashboard-retried.png') });
    await page.close();
  });

  test('when a page of another site makes the signed-in browser post to the dashboard, then the action is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);

    // Another site (localhost is not the same site as 127.0.0.1) with a form that posts at once.
    const target = `${system.api.url}/admin/queues/api/queues/webhooks/add`;
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form method="post" action="${target}" enctype="text/plain">
        <input name='{"name":"webhook.deliver","data":{"x":"' value='"}}'></form>
        <script>document.forms[0].submit()</script>`);
    });
    evil.listen(0, '127.0.0.1');
    await once(evil, 'listening');
    try {
      const answered = page.waitForResponse(target);
      await page.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`);
      // SameSite=Strict keeps the session cookie off the cross-site request, and without it (or
      // with it but without the CSRF token) the dashboard refuses.
      expect([401, 403]).toContain((await answered).status());
    } finally {
      evil.close();
      await context.close();
    }

    const admin = system.client();
    await admin.login(ADMIN.email, ADMIN.password);
    const overview = await admin.request<{ data: { queues: QueueOverview[] } }>('GET', '/api/admin/queues');
    const [generations, webhooks] = ['generations', 'webhooks'].map((name) =>
      overview.body.data.queues.find((q) => q.name === name),
    );
    expect(webhooks?.counts.waiting).toBe(0);
    // The one worker process consumes both queues.
    expect(generations).toMatchObject({ workers: 1, paused: false });
    expect(webhooks).toMatchObject({ workers: 1, paused: false });
  });
});
