import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where browser tests leave screenshots for people to look at (not checked in). */
export const ARTIFACTS = resolve(__dirname, '../../test-artifacts');

/**
 * Headless Debian Chromium (see global-setup), on a fresh profile of Playwright's. The flags keep
 * it off the network: this machine refuses outside connections, and Chromium would otherwise try
 * Google's services at every start.
 */
export async function launchBrowser(): Promise<Browser> {
  const executablePath = process.env.IMAGEGEN_TEST_CHROMIUM;
  if (!executablePath) throw new Error(process.env.IMAGEGEN_TEST_CHROMIUM_ERROR ?? 'no Chromium: run through jest');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Presses the playground's Generate and resolves with the id of the card it adds on top of the gallery. */
export async function pressGenerate(page: Page): Promise<string> {
  const first = page.locator('li.card').first();
  const before = (await first.count()) > 0 ? await first.getAttribute('data-id') : null;
  await page.getByRole('button', { name: 'Generate' }).click();
  const added = page.locator(`#gallery > li.card:first-child${before ? `:not([data-id="${before}"])` : ''}`);
  await added.waitFor();
  return (await added.getAttribute('data-id')) as string;
}
