import { dirname, join } from 'node:path';
import express, { Router } from 'express';
import { labelRoute } from '../http/route-label';

/** The playground's built files (`packages/web`, built by `pnpm build`), found through the workspace link. */
export function playgroundDir(): string {
  return join(dirname(require.resolve('@imagegen/web/package.json')), 'dist');
}

/**
 * The web playground at `/`: its page, never cached so a deploy shows at once, and its assets,
 * whose names carry their content hash and so are cached for good.
 */
export function playgroundRoutes(dir = playgroundDir()): Router {
  const router = Router();
  router.get('/', labelRoute('/'), (_req, res) => {
    res.set('Cache-Control', 'no-cache').sendFile(join(dir, 'index.html'));
  });
  router.use('/assets', express.static(join(dir, 'assets'), { immutable: true, maxAge: '1y', fallthrough: false }));
  return router;
}
