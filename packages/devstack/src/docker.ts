import { existsSync } from 'node:fs';

/**
 * Whether a Docker engine answers. The client alone is not enough (machines without an engine
 * often have it), so ask testcontainers, which probes the same way it would connect.
 */
export async function dockerEngineAvailable(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}
