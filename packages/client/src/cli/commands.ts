import { writeFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  GenerationStatus,
  RequestedProvider,
  type Generation,
  type GenerationEvent,
  type ModelList,
} from '@imagegen/shared';
import { imageOf, ImagegenClient, type CreateGenerationInput } from '../client';
import { describeEvent } from '../progress';
import { configPath, forgetLogin, readLogin, saveLogin } from './config-file';
import { askHidden, readAll, type CliIo } from './io';
import { ProgressLine } from './progress';

/** Wrong use of the CLI itself: exit code 2, with the usage. */
export class UsageError extends Error {}

/** Not logged in: exit code 3, like an API 401. */
export class NotLoggedInError extends Error {}

export const DEFAULT_URL = 'http://localhost:8000';

type Values = Record<string, string | boolean | undefined>;

function parse(args: string[], options: ParseArgsConfig['options']): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const str = (value: string | boolean | undefined): string | undefined =>
  typeof value === 'string' ? value : undefined;

/** `--url`, else `IMAGEGEN_URL`, else the logged-in API, else localhost:8000; and the saved token. */
async function connect(io: CliIo, values: Values, needsLogin = true): Promise<ImagegenClient> {
  const saved = await readLogin(configPath(io.env));
  const token = io.env.IMAGEGEN_TOKEN || saved?.token;
  if (needsLogin && !token) throw new NotLoggedInError('Not logged in: run `imagegen login` (or set IMAGEGEN_TOKEN)');
  const baseUrl = str(values.url) ?? io.env.IMAGEGEN_URL ?? saved?.url ?? DEFAULT_URL;
  return new ImagegenClient({ baseUrl, token });
}

const URL_OPTION = { url: { type: 'string' } } as const;
const JSON_OPTION = { json: { type: 'boolean' } } as const;

export async function login(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    ...URL_OPTION,
    email: { type: 'string' },
    name: { type: 'string' },
    'password-stdin': { type: 'boolean' },
  });
  const email = str(values.email) ?? io.env.IMAGEGEN_EMAIL;
  if (!email) throw new UsageError('login needs --email (or IMAGEGEN_EMAIL)');
  const password = values['password-stdin']
    ? await readAll(io.stdin)
    : (io.env.IMAGEGEN_PASSWORD ?? (io.stdin.isTTY ? await askHidden('Password: ', io) : undefined));
  if (!password) throw new UsageError('No password: type it, pipe it with --password-stdin, or set IMAGEGEN_PASSWORD');
  const client = await connect(io, values, false);
  const name = str(values.name);
  const result = await client.login({ email, password, ...(name && { name }) }, { signal: io.signal });
  const path = configPath(io.env);
  await saveLogin(path, { url: client.transport.baseUrl, token: result.token, email: result.user.email });
  io.stdout.write(`Logged in to ${client.transport.baseUrl} as ${result.user.email} (saved in ${path})\n`);
  return 0;
}

export async function logout(args: string[], io: CliIo): Promise<number> {
  parse(args, {});
  await forgetLogin(configPath(io.env));
  io.stdout.write('Logged out\n');
  return 0;
}

/** CLI flags of `generate` and the request field each one sets. */
const SETTINGS = {
  width: { field: 'width', number: true },
  height: { field: 'height', number: true },
  steps: { field: 'num_inference_steps', number: true },
  guidance: { field: 'guidance_scale', number: true },
  seed: { field: 'seed', number: true },
  style: { field: 'style', number: false },
  negative: { field: 'negative_prompt', number: false },
  model: { field: 'model', number: false },
  provider: { field: 'provider', number: false },
  timeout: { field: 'cancel_after', number: false },
} as const;

export async function generate(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    ...URL_OPTION,
    ...JSON_OPTION,
    output: { type: 'string', short: 'o' },
    poll: { type: 'boolean' },
    ...Object.fromEntries(Object.keys(SETTINGS).map((flag) => [flag, { type: 'string' }])),
  });
  const prompt = positionals.join(' ').trim();
  if (!prompt) throw new UsageError('generate needs a prompt: imagegen generate "a cat on a windowsill" -o cat.png');
  const request: Record<string, unknown> = { prompt };
  for (const [flag, { field, number }] of Object.entries(SETTINGS)) {
    const value = str(values[flag]);
    if (value === undefined) continue;
    if (number && !Number.isFinite(Number(value))) throw new UsageError(`--${flag} must be a number, not "${value}"`);
    request[field] = number ? Number(value) : value;
  }
  const provider = str(values.provider);
  if (provider !== undefined && !RequestedProvider.safeParse(provider).success) {
    throw new UsageError(`--provider must be one of ${RequestedProvider.options.join(', ')}`);
  }
  const client = await connect(io, values);
  const progress = new ProgressLine(io.stderr, describeProgress);
  let generation: Generation;
  let id: string | undefined;
  try {
    generation = await client.generate(request as CreateGenerationInput, {
      signal: io.signal,
      via: values.poll ? 'poll' : 'auto',
      onEvent: (event) => {
        if (event.type === 'status') id = event.generation.id;
        progress.update(event);
      },
    });
  } catch (err) {
    // The client cancels it on an abort; say which one, since its id was never printed.
    if (io.signal.aborted && id) io.stderr.write(`\ncanceled ${id}\n`);
    throw err;
  } finally {
    progress.end();
  }
  const image = imageOf(generation);
  const path = str(values.output) ?? `${generation.id}.${image.mimeType === 'image/jpeg' ? 'jpg' : 'png'}`;
  await writeFile(path, image.bytes);
  io.stdout.write(values.json ? `${JSON.stringify(withoutImage(generation), null, 2)}\n` : `${path}\n`);
  return 0;
}

/** The progress line's words, with who served the image once it is done. */
function describeProgress(event: GenerationEvent): string {
  const text = describeEvent(event);
  const served = event.type === 'status' && event.status === 'completed' ? event.generation.provider : null;
  return served ? `${text}, served by ${served}` : text;
}

/** The models a request may name, each with its providers in the order they are tried. */
export async function models(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { ...URL_OPTION, ...JSON_OPTION });
  if (positionals.length > 0) throw new UsageError('models takes no arguments');
  const list = await (await connect(io, values)).models({ signal: io.signal });
  io.stdout.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : describeModels(list));
  return 0;
}

export async function list(args: string[], io: CliIo): Promise<number> {
  const { values } = parse(args, {
    ...URL_OPTION,
    ...JSON_OPTION,
    status: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
  });
  const status = str(values.status);
  if (status !== undefined && !GenerationStatus.safeParse(status).success) {
    throw new UsageError(`--status must be one of ${GenerationStatus.options.join(', ')}`);
  }
  const limit = str(values.limit);
  const cursor = str(values.cursor);
  const client = await connect(io, values);
  const page = await client.listGenerations({
    signal: io.signal,
    ...(limit && { limit: Number(limit) }),
    ...(cursor && { cursor }),
    ...(status && { status: status as GenerationStatus }),
  });
  if (values.json) {
    io.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
    return 0;
  }
  for (const item of page.items) {
    io.stdout.write(`${item.id}  ${item.status.padEnd(10)}  ${item.created_at}  ${oneLine(item.prompt, 60)}\n`);
  }
  if (page.next_cursor) io.stdout.write(`more: imagegen list --cursor ${page.next_cursor}\n`);
  return 0;
}

export async function status(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { ...URL_OPTION, ...JSON_OPTION });
  const id = onlyId(positionals, 'status');
  const generation = await (await connect(io, values)).getGeneration(id, { signal: io.signal });
  io.stdout.write(values.json ? `${JSON.stringify(withoutImage(generation), null, 2)}\n` : describeRecord(generation));
  return 0;
}

export async function cancel(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, URL_OPTION);
  const id = onlyId(positionals, 'cancel');
  const generation = await (await connect(io, values)).cancelGeneration(id, { signal: io.signal });
  io.stdout.write(`${generation.id} ${generation.status}\n`);
  return 0;
}

function onlyId(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one generation id`);
  return positionals[0] as string;
}

function withoutImage({ image_url: _, ...rest }: Generation): Omit<Generation, 'image_url'> {
  return rest;
}

function describeRecord(generation: Generation): string {
  const lines: [string, unknown][] = [
    ['id', generation.id],
    ['status', generation.status],
    ['prompt', generation.prompt],
    ['queue position', generation.queue_position],
    ['model', generation.settings.model],
    ['provider asked', generation.settings.provider],
    ['provider', generation.provider],
    ['error', generation.error],
    ['cancel reason', generation.cancel_reason],
    ['image', generation.image && `${generation.image.width}×${generation.image.height} ${generation.image.mime_type}`],
    ['created', generation.created_at],
    ['started', generation.started_at],
    ['completed', generation.completed_at],
  ];
  return lines
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([label, value]) => `${`${label}:`.padEnd(16)}${String(value)}\n`)
    .join('');
}

function describeModels(list: ModelList): string {
  if (list.items.length === 0) return 'No models are offered\n';
  return list.items
    .map((model) => {
      const head = `${model.id}${model.default ? '  (default)' : ''}\n`;
      if (model.providers.length === 0) return `${head}    no provider serves it for text-to-image now\n`;
      const width = Math.max(...model.providers.map((p) => p.provider.length));
      const rows = model.providers.map(
        (p) => `    ${p.provider.padEnd(width)}  ${p.provider_id}${p.status === 'staging' ? '  (staging)' : ''}\n`,
      );
      return head + rows.join('');
    })
    .join('');
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
