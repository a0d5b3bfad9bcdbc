/** The abort reason a stopping worker gives its running jobs, so they hand themselves back. */
export const SHUTDOWN = 'worker shutting down';

/** The abort reason of a job whose generation was canceled (by its owner or its deadline). */
export const CANCELED = 'generation canceled';
