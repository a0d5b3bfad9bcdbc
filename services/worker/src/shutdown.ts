/** The abort reason a stopping worker gives its running jobs, so they hand themselves back. */
export const SHUTDOWN = 'worker shutting down';
