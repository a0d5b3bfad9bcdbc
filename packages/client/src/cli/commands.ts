import { GenerationStatus } from '@imagegen/shared';
import { JSON_OPTION, parse, str, URL_OPTION, UsageError } from './arguments';
import { configPath, forgetLogin, saveLogin } from './config-file';
import { connect } from './connect';
import { describeModels, describeRecord, oneLine, withoutImage } from './describe';
import { askHidden, readAll, type CliIo } from './io';

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
  // What it prints leaves the image out, so it is not asked for.
  const generation = await (await connect(io, values)).getGeneration(id, { signal: io.signal, minimal: true });
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

/** `delete <id>`: the generation, its image and the rest go (a running one is canceled first). */
export async function deleteGeneration(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, URL_OPTION);
  const id = onlyId(positionals, 'delete');
  await (await connect(io, values)).deleteGeneration(id, { signal: io.signal });
  io.stdout.write(`${id} deleted\n`);
  return 0;
}

function onlyId(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one generation id`);
  return positionals[0] as string;
}
