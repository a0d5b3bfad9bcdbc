/** What the CLI reads and writes, passed in so that a test can run it whole in one process too. */
export interface CliIo {
  stdout: { write(text: string): void };
  stderr: { write(text: string): void; isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  env: NodeJS.ProcessEnv;
  /** Aborts on Ctrl-C: the generation being waited for is canceled. */
  signal: AbortSignal;
}

/** All of stdin, without its last line end (`--password-stdin`). */
export async function readAll(stdin: CliIo['stdin']): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += String(chunk);
  return text.replace(/\r?\n$/, '');
}

/** Asks on a terminal without echoing what is typed. */
export async function askHidden(question: string, io: CliIo): Promise<string> {
  const { stdin, stderr } = io;
  io.stderr.write(question);
  stdin.setRawMode?.(true);
  stdin.setEncoding?.('utf8');
  let answer = '';
  try {
    for await (const chunk of stdin) {
      for (const char of String(chunk)) {
        if (char === '\r' || char === '\n') return answer;
        // Ctrl-C or Ctrl-D: give up, as a shell would.
        if (char === '\u0003' || char === '\u0004') throw new Error('No password given');
        answer = char === '\u007f' || char === '\b' ? answer.slice(0, -1) : answer + char;
      }
    }
    return answer;
  } finally {
    stdin.setRawMode?.(false);
    stderr.write('\n');
  }
}
