import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '@imagegen/devstack';
import { ImagegenClient } from '@imagegen/client';
import { DEFAULT_HF_MODEL } from '@imagegen/shared';
import { hf } from '../support/hf-emulator';
import { eventually } from '../support/lifecycle';
import { exitOf, waitForOutput } from '../support/services';
import { startSystem, type System } from '../support/system';

const CLI = resolve(__dirname, '../../packages/client/dist/cli.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The `imagegen` CLI, run as users run it: its own process, its own config file, real exit codes. */
describe('imagegen CLI', () => {
  let system: System;
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    system = await startSystem();
    home = await mkdtemp(join(tmpdir(), 'imagegen-cli-'));
    env = { PATH: process.env.PATH ?? '', IMAGEGEN_CONFIG: join(home, 'config.json'), IMAGEGEN_URL: system.api.url };
  });

  afterAll(async () => {
    await system?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  function start(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}) {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...options.env }, cwd: home });
    child.stdin.end(options.stdin ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    return { child, stdout: () => stdout, stderr: () => stderr, output: () => stdout + stderr };
  }

  async function run(args: string[], options: { env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
    const started = start(args, options);
    // 'close', not 'exit': it comes once the output pipes are drained too.
    const [code] = (await once(started.child, 'close')) as [number | null];
    return { code, stdout: started.stdout(), stderr: started.stderr() };
  }

  async function api(): Promise<ImagegenClient> {
    const { token } = JSON.parse(await readFile(env.IMAGEGEN_CONFIG as string, 'utf8')) as { token: string };
    return new ImagegenClient({ baseUrl: system.api.url, token });
  }

  it('says it is not logged in (exit 3), and refuses a wrong password (exit 3)', async () => {
    for (const command of ['list', 'models']) {
      const notYet = await run([command]);
      expect(notYet.code).toBe(3);
      expect(notYet.stderr).toMatch(/Not logged in: run `imagegen login`/);
    }

    await run(['login', '--email', `nobody-${process.pid}@example.com`, '--name', 'N', '--password-stdin'], {
      stdin: 'password123\n',
    });
    const wrong = await run(['login', '--email', `nobody-${process.pid}@example.com`, '--password-stdin'], {
      stdin: 'wrong-password\n',
    });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/Invalid email or password/);
  });

  it('logs in with the password on stdin and keeps the token in a file only its owner reads', async () => {
    const email = `cli-${process.pid}@example.com`;
    const login = await run(['login', '--email', email, '--name', 'Cli User', '--password-stdin'], {
      stdin: 'password123\n',
    });
    expect(login).toMatchObject({ code: 0, stderr: '' });
    expect(login.stdout).toContain(`as ${email}`);
    const saved = JSON.parse(await readFile(env.IMAGEGEN_CONFIG as string, 'utf8')) as Record<string, string>;
    expect(saved).toMatchObject({ url: system.api.url, email, token: expect.any(String) });
    expect((await stat(env.IMAGEGEN_CONFIG as string)).mode & 0o777).toBe(0o600);
    expect(login.stdout).not.toContain(saved.token);
  });

  it('generate writes the image to -o, showing each state as it goes', async () => {
    system.emulator.script('cli/cold', hf.coldStart('cli/cold', 1), hf.png());
    const out = join(home, 'cat.png');
    const result = await run(['generate', 'a cat on a windowsill', '-o', out, '--model', 'cli/cold', '--width', '256']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${out}\n`);
    const lines = result.stderr.trim().split('\n');
    // The position shows only if the worker has not taken the job by the time the API answers.
    expect(lines[0]).toMatch(/^queued(, position \d+)?/);
    expect(lines).toContainEqual(expect.stringMatching(/loading/));
    expect(lines).toContain('generating');
    // The system's worker sends every request to its one endpoint (HF_BASE_URL).
    expect(lines.at(-1)).toBe('done, served by hf-endpoint');

    const client = await api();
    const [latest] = (await client.listGenerations({ limit: 1 })).items;
    expect(latest).toMatchObject({ prompt: 'a cat on a windowsill', status: 'completed' });
    const served = await client.getImage(latest?.id as string);
    expect((await readFile(out)).equals(Buffer.from(served.bytes))).toBe(true);
    expect(latest?.settings.width).toBe(256);
  });

  it('generate --count writes each image, numbered before the extension', async () => {
    const out = join(home, 'cats.png');
    const result = await run(['generate', 'three cats', '--count', '3', '--seed', '7', '-o', out]);
    expect(result.code).toBe(0);
    const paths = [1, 2, 3].map((n) => join(home, `cats-${n}.png`));
    expect(result.stdout).toBe(`${paths.join('\n')}\n`);

    const client = await api();
    const [latest] = (await client.listGenerations({ limit: 1 })).items;
    expect(latest).toMatchObject({ prompt: 'three cats', status: 'completed', settings: { num_images: 3 } });
    expect(latest?.images.map((image) => image.index)).toEqual([0, 1, 2]);
    const files = await Promise.all(paths.map((path) => readFile(path)));
    for (const [index, file] of files.entries()) {
      const served = await client.getImage(latest?.id as string, { index });
      expect(file.equals(Buffer.from(served.bytes))).toBe(true);
    }
    // Drawn with seeds 7, 8 and 9: three different images.
    expect(new Set(files.map((file) => file.toString('base64'))).size).toBe(3);

    const tooMany = await run(['generate', 'five cats', '--count', '5']);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toMatch(/^ {2}num_images: /m);
  });

  it('draws one line in place on a terminal', async () => {
    // `script` runs the CLI on a pseudo-terminal, as an interactive shell would.
    const command = [process.execPath, CLI, 'generate', 'a terminal cat', '-o', join(home, 'tty.png')]
      .map((arg) => JSON.stringify(arg))
      .join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { env: { ...env, TERM: 'dumb' }, cwd: home });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(0);
    expect(output).toContain('\r\x1b[2Kqueued');
    expect(output).toContain('\r\x1b[2Kdone, served by hf-endpoint (');
  });

  it('list and status show the generations, as text or --json', async () => {
    const client = await api();
    const [latest] = (await client.listGenerations({ limit: 1 })).items;
    const id = latest?.id as string;

    const list = await run(['list', '--limit', '5']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(new RegExp(`^${id}\\s+completed\\s+\\S+\\s+a terminal cat$`));
    const json = await run(['list', '--json', '--status', 'completed']);
    const page = JSON.parse(json.stdout) as { items: { id: string }[] };
    expect(page.items.map((g) => g.id)).toContain(id);

    const status = await run(['status', id]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^status:\s+completed$/m);
    expect(status.stdout).toMatch(/^image:\s+512×512 image\/png$/m);
    expect(/^model:\s+(.+)$/m.exec(status.stdout)?.[1]).toBe(DEFAULT_HF_MODEL);
    expect(status.stdout).toMatch(/^provider:\s+hf-endpoint$/m);
    // It asked for no provider: the line is left out.
    expect(status.stdout).not.toMatch(/^provider asked:/m);
    const statusJson = JSON.parse((await run(['status', id, '--json'])).stdout) as Record<string, unknown>;
    expect(statusJson).toMatchObject({ id, status: 'completed' });
    expect(statusJson).not.toHaveProperty('image_url');
    expect(statusJson).toMatchObject({ provider: 'hf-endpoint', settings: { provider: null } });
  });

  it('models lists each model with its providers, marking the default, as text or --json', async () => {
    const text = await run(['models']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    // The system's API knows one model, its default, served by the one endpoint its worker uses.
    expect(text.stdout.split('\n')).toEqual([
      `${DEFAULT_HF_MODEL}  (default)`,
      expect.stringMatching(/^ {4}hf-endpoint {2}\S+$/),
      '',
    ]);

    const json = await run(['models', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      items: [
        {
          id: DEFAULT_HF_MODEL,
          default: true,
          providers: [{ provider: 'hf-endpoint', provider_id: expect.any(String), status: 'live' }],
        },
      ],
    });
    expect((await run(['models', 'extra'])).code).toBe(2);
  });

  it('exits 1 with the reason when the generation fails, and writes no file', async () => {
    system.emulator.script('cli/broke', hf.outOfCredits());
    const out = join(home, 'broke.png');
    const result = await run(['generate', 'a broken cat', '-o', out, '--model', 'cli/broke']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/failed: The Hugging Face account is out of credits/);
    await expect(stat(out)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('exits 2 for wrong usage or an invalid request, naming the field', async () => {
    const invalid = await run(['generate', 'a cat', '--width', '100']);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/^ {2}width: /m);
    const notNumber = await run(['generate', 'a cat', '--steps', 'many']);
    expect(notNumber).toMatchObject({ code: 2 });
    expect(notNumber.stderr).toContain('--steps must be a number');
    expect((await run(['frobnicate'])).code).toBe(2);
    expect((await run(['status'])).code).toBe(2);
    expect((await run(['list', '--status', 'done'])).stderr).toContain('--status must be one of');
    // Only a provider a request may name: `hf-endpoint` is a deployment's, not a choice.
    const unknown = await run(['generate', 'a cat', '--provider', 'hf-endpoint']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--provider must be one of fal-ai, hf-inference,');
    // A provider the API is asked for, which this one (a single dedicated endpoint) cannot use.
    const refused = await run(['generate', 'a cat', '--provider', 'fal-ai']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^ {2}provider: this deployment serves one dedicated endpoint/m);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toMatch(/^ {6}--provider P .*\n {29}fal-ai, hf-inference, .*openai\n/m);
    expect(help.stdout).toMatch(/^ {2}models {2,}the models you may ask for/m);
  });

  it('exits 4 for an unknown generation and 5 when the API cannot be reached', async () => {
    const missing = await run(['status', '0123456789abcdef01234567']);
    expect(missing.code).toBe(4);
    const down = await run(['list'], { env: { IMAGEGEN_URL: `http://127.0.0.1:${await freePort()}` } });
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/Could not reach .*ECONNREFUSED/);
  });

  it('delete removes a generation and says so in one line (exit 0); an unknown one exits 4 with the API’s message', async () => {
    const client = await api();
    const { id } = await client.generate('a cat for the bin');
    const deleted = await run(['delete', id]);
    expect(deleted).toEqual({ code: 0, stdout: `${id} deleted\n`, stderr: '' });
    await expect(client.getGeneration(id)).rejects.toMatchObject({ status: 404 });

    const again = await run(['delete', id]);
    expect(again).toMatchObject({ code: 4, stdout: '', stderr: 'imagegen delete: Generation not found\n' });
    expect((await run(['delete'])).code).toBe(2);
    expect((await run(['--help'])).stdout).toMatch(/^ {2}delete <id> {2,}delete a generation/m);
  });

  it('cancels the generation on Ctrl-C and exits 130', async () => {
    system.emulator.script('cli/slow', hf.png(20_000));
    const started = start(['generate', 'a slow cat', '--model', 'cli/slow']);
    await waitForOutput(started, (text) => text.includes('generating'));
    started.child.kill('SIGINT');
    const { code } = await exitOf(started.child);
    expect(code).toBe(130);
    const id = /canceled ([0-9a-f]{24})/.exec(started.stderr())?.[1];
    expect(id).toBeDefined();
    const client = await api();
    const record = await eventually('canceled', async () => {
      const generation = await client.getGeneration(id as string);
      return generation.status === 'canceled' ? generation : undefined;
    });
    expect(record.cancel_reason).toBe('user');
  });
});
