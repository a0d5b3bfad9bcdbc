import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Wrong use of the CLI itself: exit code 2, with the usage. */
export class UsageError extends Error {}

export type Values = Record<string, string | boolean | undefined>;

export function parse(args: string[], options: ParseArgsConfig['options']): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export const str = (value: string | boolean | undefined): string | undefined =>
  typeof value === 'string' ? value : undefined;

export const URL_OPTION = { url: { type: 'string' } } as const;
export const JSON_OPTION = { json: { type: 'boolean' } } as const;
