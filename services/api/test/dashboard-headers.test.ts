import { startHarness, type Harness } from './api-harness';
import { ADMIN_ENV, Browser, QAPI, signInToDashboard, type Answer } from './admin-support';

/**
 * The queue dashboard is bull-board's own Express app, mounted in ours: its answers are made by
 * its app, which sends `X-Powered-By: Express` unless told not to, whatever ours is set to.
 */
describe('the admin dashboard answers without x-powered-by', () => {
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    h = await startHarness(ADMIN_ENV);
    browser = await signInToDashboard(h);
  });

  afterAll(async () => {
    await h?.stop();
  });

  const poweredBy = (what: string, answer: Answer) => ({ what, poweredBy: answer.headers.get('x-powered-by') });

  test("when a signed-in admin opens the dashboard, its JSON API, a script and a missing page, then no answer names the server's framework", async () => {
    const page = await browser.send('/admin/queues');
    expect(page.status).toBe(200);
    const script = /<script[^>]+src="([^"]+\.js)"/.exec(page.text)?.[1];
    expect(script).toBeDefined();

    const answers: Array<[string, number, Answer]> = [
      ['page', 200, page],
      ['queue page', 200, await browser.send('/admin/queues/queue/generations')],
      ['json api', 200, await browser.send(QAPI)],
      ['script', 200, await browser.send(new URL(script!, `${h.baseUrl}/admin/queues/`).pathname)],
      ['missing api route', 404, await browser.send('/admin/queues/api/no-such-thing')],
      ['login form', 200, await new Browser(h.baseUrl).send('/admin/login')],
      ['no session', 303, await new Browser(h.baseUrl).send('/admin/queues')],
    ];
    for (const [what, status, answer] of answers) {
      expect({ what, status: answer.status }).toEqual({ what, status });
      expect(poweredBy(what, answer)).toEqual({ what, poweredBy: null });
    }
  });
});
