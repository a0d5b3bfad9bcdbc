/**
 * The full pattern of every route of an Express app (`/api/generations/:id/events`), found by
 * walking its router stack once: mount paths as they were registered, never the path a request
 * came in on. Express matches mount paths without regard to case, so a label made of `req.baseUrl`
 * turned each case variant of a URL into a new metrics series.
 */

interface Layer {
  /** router 2.x: the path the layer was registered with (`app.use(path, …)`, `router.get(path, …)`). */
  rawPath?: unknown;
  route?: { path?: unknown };
  /** A mounted router has a stack; a mounted Express app (bull-board's) has a router. */
  handle?: { stack?: unknown; router?: { stack?: unknown } };
}

export type RoutePatterns = ReadonlyMap<object, string>;

/** The patterns of an app's routes, keyed by the route object Express sets as `req.route`. */
export function routePatterns(app: { router?: { stack?: unknown } }): RoutePatterns {
  const patterns = new Map<object, string>();
  walk(app.router?.stack, '', patterns);
  return patterns;
}

function walk(stack: unknown, prefix: string, patterns: Map<object, string>): void {
  if (!Array.isArray(stack)) return;
  for (const layer of stack as Layer[]) {
    const route = layer.route;
    if (route) {
      // A route reached by two mounts keeps its first pattern: still one series, never one per URL.
      if (!patterns.has(route)) patterns.set(route, prefix + pathText(route.path));
      continue;
    }
    const inner = layer.handle?.stack ?? layer.handle?.router?.stack;
    if (!Array.isArray(inner)) continue;
    for (const path of paths(layer.rawPath)) {
      // `/` is how a router mounted without a path is registered; it adds nothing to the prefix.
      walk(inner, path === '/' ? prefix : prefix + path.replace(/\/+$/, ''), patterns);
    }
  }
}

/** A layer's registered paths; without them (router internals changed) the mount adds nothing. */
function paths(rawPath: unknown): string[] {
  const list = Array.isArray(rawPath) ? (rawPath.flat(Infinity) as unknown[]) : [rawPath];
  return list.map((path) => (path === undefined ? '/' : pathText(path)));
}

const pathText = (path: unknown) => (Array.isArray(path) ? path.map(String).join(',') : String(path));
