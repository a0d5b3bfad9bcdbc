import {
  ApiError,
  AuthenticationError,
  GenerationError,
  ImagegenError,
  NotFoundError,
  ValidationError,
} from '../errors';
import { MAX_IMAGES, RequestedProvider, STYLE_NAMES } from '@imagegen/shared';
import { UsageError } from './arguments';
import * as commands from './commands';
import { DEFAULT_URL, NotLoggedInError } from './connect';
import { generate } from './generate-command';
import type { CliIo } from './io';

/** The CLI's exit codes, as `imagegen --help` lists them. */
export const EXIT = {
  ok: 0,
  /** The generation failed or was canceled. */
  generationFailed: 1,
  /** Wrong flags or arguments, or a request the API refused as invalid. */
  usage: 2,
  /** Not logged in, or the token or password was refused. */
  auth: 3,
  notFound: 4,
  /** The API could not be reached, or failed. */
  unavailable: 5,
  /** A local file could not be read or written (the image's \`-o\`, the saved login). */
  file: 6,
  /** Ctrl-C; the generation was canceled. */
  interrupted: 130,
} as const;

const HELP = `Usage: imagegen <command> [options]

Commands:
  login --email E [--name N] [--password-stdin]   log in (with --name, an unknown email signs up)
  logout                                          forget the saved login
  generate "<prompt>" [-o FILE] [options]          create an image and wait for it
      --count N              1–${MAX_IMAGES} images from the prompt (default 1); several are
                             written as FILE-1.png, FILE-2.png, …
      --width N --height N   256–1024, multiples of 8 (default 512)
      --steps N --guidance X --seed N --negative TEXT --model owner/name
      --style S              ${STYLE_NAMES.join(', ')}
      --provider P           serve it only through P (else the API chooses; see \`models\`):
                             ${RequestedProvider.options.join(', ')}
      --timeout 10m          cancel it if not done by then
      --poll                 poll instead of following the live stream
  list [--status S] [--limit N] [--cursor C]       your generations, newest first
  models                                          the models you may ask for, with their providers
  status <id>                                     one generation
  cancel <id>                                     cancel a pending or running generation
  delete <id>                                     delete a generation and its image for good

Every command takes --url (else IMAGEGEN_URL, else the saved login's, else ${DEFAULT_URL});
generate, list, status and models take --json. IMAGEGEN_TOKEN overrides the saved login.

Exit codes: 0 done; 1 the generation failed or was canceled; 2 wrong usage or invalid request;
3 not logged in or refused; 4 not found; 5 API unreachable or failing; 6 a local file
could not be read or written; 130 interrupted (a generation being waited for is canceled).
`;

const COMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  login: commands.login,
  logout: commands.logout,
  generate,
  list: commands.list,
  status: commands.status,
  cancel: commands.cancel,
  delete: commands.deleteGeneration,
  models: commands.models,
};

/** Runs one command line; resolves with the exit code, having said why on stderr when it is not 0. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name ? io.stdout : io.stderr).write(HELP);
    return name ? EXIT.ok : EXIT.usage;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`imagegen: unknown command "${name}"\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await command(args, io);
  } catch (err) {
    const code = exitCodeOf(err, io.signal);
    io.stderr.write(`imagegen ${name}: ${messageOf(err, io.signal)}\n`);
    if (code === EXIT.usage && err instanceof UsageError) io.stderr.write('Run imagegen --help for usage.\n');
    return code;
  }
}

function exitCodeOf(err: unknown, signal: AbortSignal): number {
  if (signal.aborted) return EXIT.interrupted;
  if (err instanceof UsageError || err instanceof ValidationError) return EXIT.usage;
  if (err instanceof GenerationError) return EXIT.generationFailed;
  if (err instanceof NotLoggedInError || err instanceof AuthenticationError) return EXIT.auth;
  if (err instanceof NotFoundError) return EXIT.notFound;
  if (err instanceof ImagegenError) return EXIT.unavailable;
  if (isSystemError(err)) return EXIT.file;
  throw err;
}

function messageOf(err: unknown, signal: AbortSignal): string {
  if (signal.aborted) return 'interrupted';
  const message = (err as Error).message;
  if (!(err instanceof ApiError) || err.errors.length === 0) return message;
  return [message, ...err.errors.map(({ field, message: why }) => `  ${field}: ${why}`)].join('\n');
}

/** Node's errors from the file system carry a `code` and a `syscall`. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}
