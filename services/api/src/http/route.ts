import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { z } from 'zod';
import type { VerifiedClaims } from '../auth/token.service';
import { authOf, type AuthGuard } from './auth';
import { holdClose } from './graceful-close';
import { labelRoute } from './route-label';
import { parsePart } from './validate';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Part = z.ZodObject | undefined;
type Parsed<S extends Part> = S extends z.ZodObject ? z.output<S> : undefined;

/** What a handler is given: each declared part of the request as its schema parsed it. */
export interface RouteInput<P extends Part, Q extends Part, H extends Part, B extends Part, Authed extends boolean> {
  params: Parsed<P>;
  query: Parsed<Q>;
  headers: Parsed<H>;
  body: Parsed<B>;
  /** The verified token of the caller, on routes behind a guard. */
  auth: Authed extends true ? VerifiedClaims : undefined;
  req: Request;
  res: Response;
}

/** The handler of a route behind a guard (its table's, or its own) is given the caller's token. */
type Guarded<Authed extends boolean, G extends AuthGuard | undefined> = Authed extends true
  ? true
  : G extends AuthGuard
    ? true
    : false;

export interface RouteSpec<
  P extends Part,
  Q extends Part,
  H extends Part,
  B extends Part,
  Authed extends boolean,
  G extends AuthGuard | undefined = undefined,
> {
  summary: string;
  description?: string;
  /** A guard of this route alone, run once its input is parsed (the stream's, which reads its id). */
  auth?: G;
  params?: P;
  query?: Q;
  headers?: H;
  body?: B;
  /** The body may be left out (it is then parsed as `{}`): the document marks it not required. */
  optionalBody?: boolean;
  /** Parts parsed but left out of the document, where a security scheme documents them already. */
  undocumented?: Array<'query' | 'headers'>;
  /** Every answer the route gives, as the OpenAPI document shows it. */
  responses: RouteConfig['responses'];
  handler(request: RouteInput<P, Q, H, B, Guarded<Authed, G>>): Promise<void> | void;
}

interface RouteTableOptions {
  /** The OpenAPI tag of every route of the table. */
  tag: string;
  /** Guards every request into the table, before any of its routes is matched. */
  auth?: AuthGuard;
}

const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1');

/**
 * The routes mounted under one path: each declared once, with the schemas of its input and its
 * answers, which become both its Express handler (input parsed before the handler sees it) and its
 * operation in the OpenAPI document. `router` is what the app mounts at `base`.
 */
export class RouteTable<Authed extends boolean = false> {
  readonly router: Router;

  /** A table whose every request, matched or not, must pass `auth` first (as a mount behind it). */
  static guarded(docs: OpenAPIRegistry, base: string, tag: string, auth: AuthGuard): RouteTable<true> {
    return new RouteTable<true>(docs, base, { tag, auth });
  }

  /** A table open to anyone; a route of it may still have a guard of its own. */
  static open(docs: OpenAPIRegistry, base: string, tag: string): RouteTable {
    return new RouteTable(docs, base, { tag });
  }

  private constructor(
    private readonly docs: OpenAPIRegistry,
    private readonly base: string,
    private readonly options: RouteTableOptions,
    shared?: Router,
  ) {
    this.router = shared ?? Router();
    if (!shared && options.auth) this.router.use(options.auth);
  }

  /** Routes of another tag in the same router: the same mount, behind the same guard (run once). */
  tagged(tag: string): RouteTable<Authed> {
    return new RouteTable<Authed>(this.docs, this.base, { ...this.options, tag }, this.router);
  }

  get<P extends Part, Q extends Part, H extends Part, G extends AuthGuard | undefined = undefined>(
    path: string,
    spec: RouteSpec<P, Q, H, undefined, Authed, G>,
  ): void {
    this.route('get', path, spec);
  }

  post<P extends Part, Q extends Part, H extends Part, B extends Part, G extends AuthGuard | undefined = undefined>(
    path: string,
    spec: RouteSpec<P, Q, H, B, Authed, G>,
  ): void {
    this.route('post', path, spec);
  }

  patch<P extends Part, Q extends Part, H extends Part, B extends Part, G extends AuthGuard | undefined = undefined>(
    path: string,
    spec: RouteSpec<P, Q, H, B, Authed, G>,
  ): void {
    this.route('patch', path, spec);
  }

  delete<P extends Part, Q extends Part, H extends Part, B extends Part, G extends AuthGuard | undefined = undefined>(
    path: string,
    spec: RouteSpec<P, Q, H, B, Authed, G>,
  ): void {
    this.route('delete', path, spec);
  }

  /** Declares one route: its Express handler, and its operation in the OpenAPI document. */
  route<P extends Part, Q extends Part, H extends Part, B extends Part, G extends AuthGuard | undefined>(
    method: Method,
    path: string,
    spec: RouteSpec<P, Q, H, B, Authed, G>,
  ): void {
    const guard = spec.auth ?? this.options.auth;
    const shown = (part: 'query' | 'headers') => !spec.undocumented?.includes(part);
    this.docs.registerPath({
      method,
      path: openApiPath(this.base + path),
      tags: [this.options.tag],
      ...(guard && { security: guard.security }),
      summary: spec.summary,
      ...(spec.description && { description: spec.description }),
      ...(hasRequest(spec) && {
        request: {
          ...(spec.params && { params: spec.params }),
          ...(spec.query && shown('query') && { query: spec.query }),
          ...(spec.headers && shown('headers') && { headers: spec.headers }),
          ...(spec.body && {
            body: { required: !spec.optionalBody, content: { 'application/json': { schema: spec.body } } },
          }),
        },
      }),
      responses: spec.responses,
    });
    const handle = async (req: Request, res: Response) => {
      // In the order the routes always checked them: path, query, headers, then the body.
      const input = {
        params: parsePart(req, 'params', spec.params),
        query: parsePart(req, 'query', spec.query),
        headers: parsePart(req, 'headers', spec.headers),
        body: parsePart(req, 'body', spec.body),
      };
      if (spec.auth) await runGuard(spec.auth, req, res);
      const auth = guard ? authOf(req).claims : undefined;
      await spec.handler({ ...input, auth, req, res } as RouteInput<P, Q, H, B, Guarded<Authed, G>>);
    };
    const handler: RequestHandler = (req, res) => holdClose(res, () => handle(req, res));
    this.router[method](path, labelRoute(this.base + path), handler);
  }
}

function hasRequest(spec: { params?: Part; query?: Part; headers?: Part; body?: Part }): boolean {
  return !!(spec.params ?? spec.query ?? spec.headers ?? spec.body);
}

/** Runs a guard in line, as a step of the route rather than a middleware before it. */
function runGuard(guard: AuthGuard, req: Request, res: Response): Promise<void> {
  return new Promise((resolve, reject) => {
    Promise.resolve(guard(req, res, (err?: unknown) => (err ? reject(err) : resolve()))).catch(reject);
  });
}
