import { setTimeout as sleep } from 'node:timers/promises';
import type { ImageSource, RenderOptions, RenderRequest } from '../src/images/image-source';
import { LocalRenderer } from '../src/images/local-renderer';
import { processorHarness } from './processor-harness';

/**
 * The start of a run is announced while the provider is asked, not before: its announcement (an
 * event on Redis, maybe a webhook message) is no longer on the path of every image. What the
 * processor announces after it still comes after it: a retry's notice, and the end.
 */
describe("a run's start announcement, made while the provider is asked", () => {
  const { runOnce, warnings } = processorHarness();

  /** A provider that asks for a retry at once, then answers; its beginning and end written to `seen`. */
  const retryingOnce = (seen: string[]): ImageSource => ({
    description: 'a provider that retries once',
    async render(request: RenderRequest, options: RenderOptions) {
      seen.push('render began');
      options.onRetry?.({ retry: 1, delayMs: 0, detail: 'cold start' });
      const rendered = await new LocalRenderer().render(request, options);
      seen.push('render ended');
      return rendered;
    },
    close: async () => undefined,
  });

  /** The lifecycle's notice and end, written to `seen`, with `started` as its start announcement. */
  const announcing = (seen: string[], started: () => Promise<void>) => ({
    started,
    notice: async () => void seen.push('notice'),
    ended: async () => void seen.push('ended'),
  });

  test('when the announcement is slower than the provider, then the provider is asked at once and the notice and the end still follow the announcement', async () => {
    const seen: string[] = [];
    // Done a while after the render has ended, or after 2 s if the render has not begun by then
    // (a processor that waits for the announcement before asking the provider).
    const started = async () => {
      for (let waited = 0; !seen.includes('render ended') && waited < 2_000; waited += 5) await sleep(5);
      await sleep(50);
      seen.push('started');
    };
    const { record } = await runOnce(retryingOnce(seen), {}, { lifecycle: announcing(seen, started) });
    expect(record.status).toBe('completed');
    expect(seen).toEqual(['render began', 'render ended', 'started', 'notice', 'ended']);
  });

  test('when the announcement fails, then the generation completes all the same and the failure is logged', async () => {
    const seen: string[] = [];
    const failing = () => Promise.reject(new Error('Redis unreachable'));
    const { record } = await runOnce(retryingOnce(seen), {}, { lifecycle: announcing(seen, failing) });
    expect(record.status).toBe('completed');
    // The notice waits on the announcement, which failed at once: it may come before the render's end.
    expect([...seen].sort()).toEqual(['ended', 'notice', 'render began', 'render ended']);
    expect(seen.at(-1)).toBe('ended');
    expect(warnings).toContain('could not announce the start');
  });
});
