import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * The Chromium the browser tests drive: `CHROMIUM_PATH`, else Debian's package, installed with
 * apt-get when it is missing and we may (root, apt-get present) — test tools' own browser
 * downloads cannot work where only package registries are reachable. Throws, saying what to do,
 * when there is none and none can be installed.
 */
export function provideChromium(log: (line: string) => void): string {
  const configured = process.env.CHROMIUM_PATH;
  if (configured) {
    if (!existsSync(configured)) throw new Error(`CHROMIUM_PATH=${configured} does not exist`);
    return configured;
  }
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found) return found;
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0) {
    throw new Error("Chromium is missing: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH");
  }
  log("Chromium: installing Debian's package (apt-get install chromium), once");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], { env, stdio: 'ignore' });
  if (install().status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
    if (install().status !== 0) throw new Error('apt-get install chromium failed');
  }
  const installed = CANDIDATES.find((path) => existsSync(path));
  if (!installed) throw new Error('apt-get installed chromium, but no chromium binary was found');
  return installed;
}
