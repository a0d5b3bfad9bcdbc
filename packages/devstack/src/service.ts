/** A running dependency: where to reach it, what it is, and how to stop it if we started it. */
export interface ProvidedService {
  url: string;
  description: string;
  stop(): Promise<void>;
}

export const nothingToStop = async (): Promise<void> => {};

/** A connection string with any password replaced, fit for a log line. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
