import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EmulatedProvider } from '../../../test/support/provider-emulator';

/** One recorded exchange of a fixture in fixtures/providers (see its "placeholders"). */
export interface Exchange {
  request: {
    base: 'router' | 'openai' | 'cdn';
    method: string;
    path: string;
    headers: Record<string, string>;
    body: unknown;
  };
  response: {
    status: number;
    headers: Record<string, string>;
    body: unknown;
    image?: { format: 'png' | 'jpeg' | 'webp'; width: number; height: number };
  };
}

export interface Fixture {
  provider: EmulatedProvider;
  /** Where each fact comes from, and which are unconfirmed. */
  source: string;
  settings: {
    prompt: string;
    width: number;
    height: number;
    num_inference_steps: number | null;
    guidance_scale: number | null;
    seed: number | null;
    negative_prompt: string | null;
    model: string;
    providerId: string;
  };
  exchanges: Exchange[];
}

export const FIXTURES = join(__dirname, 'fixtures', 'providers');

export function loadFixture(provider: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURES, `${provider}.json`), 'utf8')) as Fixture;
}
