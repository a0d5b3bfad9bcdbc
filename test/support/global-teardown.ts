import type { Stack } from '@imagegen/devstack';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { imagegenStack?: Stack }).imagegenStack?.stop();
}
