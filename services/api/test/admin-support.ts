import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { ObjectId } from 'mongodb';
import { QUEUES, type ApiFailure, type ApiSuccess, type AuthResult, type PublicUser } from '@imagegen/shared';
import { COLLECTIONS, type GenerationDocument, type UserDocument } from '@imagegen/core';
import { jsonRequest, type ApiClient } from '../../../test/support/api-client';
import type { Harness } from './api-harness';

// Helpers of the admin tests: a cookie-keeping client, sign-in flows, failing jobs on purpose.

export const ADMIN_EMAIL = 'root@example.com';
export const ADMIN_PASSWORD = 'correct horse battery staple';
export const ADMIN_ENV = { ADMIN_EMAIL, ADMIN_PASSWORD };
/** bull-board's JSON API under the dashboard. */
export const QAPI = '/admin/queues/api/queues';
export const GEN_QAPI = `${QAPI}/${QUEUES.generations}`;

// ---------------------------------------------------------------------------------------------
// HTTP with cookies handled by hand (fetch never follows redirects here)
// ---------------------------------------------------------------------------------------------

export interface SetCookie {
  name: string;
  value: string;
  /** Attribute names lower-cased; valueless ones (HttpOnly, Secure) map to ''. */
  attrs: Map<string, string>;
  raw: string;
}

export function setCookiesOf(headers: Headers): Map<string, SetCookie> {
  const cookies = new Map<string, SetCookie>();
  for (const raw of headers.getSetCookie()) {
    const [pair = '', ...rest] = raw.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const attrs = new Map(
      rest.map((attr) => {
        const [key = '', ...value] = attr.trim().split('=');
        return [key.toLowerCase(), value.join('=')] as const;
      }),
    );
    cookies.set(name, { name, value: pair.slice(eq + 1).trim(), attrs, raw });
  }
  return cookies;
}

/** A Set-Cookie that deletes the cookie: Max-Age=0 or an Expires in the past. */
export function deletes(cookie: SetCookie | undefined): boolean {
  if (!cookie) return false;
  const expires = cookie.attrs.get('expires');
  return cookie.attrs.get('max-age') === '0' || (expires !== undefined && Date.parse(expires) <= Date.now());
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  cookies: Map<string, SetCookie>;
  /** The body parsed as JSON (throws when it is not JSON). */
  json<T = ApiFailure>(): T;
}

export interface SendOptions {
  method?: string;
  token?: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON, a string as is (labelled JSON unless `headers` say otherwise). */
  body?: unknown;
}

export async function send(baseUrl: string, path: string, options: SendOptions = {}): Promise<Answer> {
  const { method = 'GET', token, headers = {}, body } = options;
  const res = await fetch(baseUrl + path, { ...jsonRequest(method, body, token, headers), redirect: 'manual' });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    cookies: setCookiesOf(res.headers),
    json: <T>() => JSON.parse(text) as T,
  };
}

/** A browser's view of the admin area: a cookie jar (every cookie here has Path=/admin). */
export class Browser {
  readonly jar = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  async send(path: string, options: SendOptions = {}): Promise<Answer> {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const answer = await send(this.baseUrl, path, {
      ...options,
      headers: { ...(cookie && { cookie }), ...options.headers },
    });
    for (const c of answer.cookies.values()) {
      if (deletes(c)) this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
    return answer;
  }

  /** A state-changing dashboard request as bull-board's UI sends it: the XSRF-TOKEN cookie copied into the header. */
  act(method: string, path: string, body?: unknown): Promise<Answer> {
    const xsrf = this.jar.get('XSRF-TOKEN');
    return this.send(path, { method, body, headers: xsrf ? { 'x-xsrf-token': xsrf } : {} });
  }
}

export const CSRF_FIELD = /<input type="hidden" name="csrf" value="([^"]+)">/;

/** GETs the login form and returns its hidden CSRF value. */
export async function openLoginForm(browser: Browser): Promise<string> {
  const page = await browser.send('/admin/login');
  const csrf = CSRF_FIELD.exec(page.text)?.[1];
  if (page.status !== 200 || !csrf) throw new Error(`login form: ${page.status} ${page.text}`);
  return csrf;
}

export function submitLogin(browser: Browser, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return browser.send('/admin/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

/** A browser signed in to the dashboard through the login form. */
export async function signInToDashboard(h: Harness, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<Browser> {
  const browser = new Browser(h.baseUrl);
  const csrf = await openLoginForm(browser);
  const answer = await submitLogin(browser, { email, password, csrf });
  if (answer.status !== 303 || !browser.jar.has('imagegen_admin') || !browser.jar.has('XSRF-TOKEN')) {
    throw new Error(`dashboard sign-in failed: ${answer.status} ${answer.text}`);
  }
  return browser;
}

// ---------------------------------------------------------------------------------------------
// Users, records and jobs
// ---------------------------------------------------------------------------------------------

/** A client logged in through POST /api/auth/login, and its user id. */
export async function signIn(
  h: Harness,
  email: string,
  password = 'password123',
): Promise<{ client: ApiClient; id: string; user: PublicUser }> {
  const client = h.client();
  const reply = await client.request<ApiSuccess<AuthResult>>('POST', '/api/auth/login', {
    email,
    password,
    name: 'Someone',
  });
  if (reply.status !== 200) throw new Error(`login of ${email} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  client.token = reply.body.data.token;
  return { client, id: reply.body.data.user.id, user: reply.body.data.user };
}

export const usersOf = (h: Harness) => h.db.collection<UserDocument>(COLLECTIONS.users);
export const generationsOf = (h: Harness) => h.db.collection<GenerationDocument>(COLLECTIONS.generations);
export const recordOf = async (h: Harness, id: string) => (await generationsOf(h).findOne({ _id: new ObjectId(id) }))!;

/**
 * Fails generation jobs as the worker would give up on them: takes the job from the queue (it must
 * be the next one waiting) and moves it to failed with an UnrecoverableError.
 */
export class JobFailer {
  private readonly redis: Redis;
  private readonly worker: Worker;

  constructor(private readonly h: Harness) {
    this.redis = new Redis(h.iso.redisUrl, { maxRetriesPerRequest: null });
    this.worker = new Worker(QUEUES.generations, null, {
      connection: this.redis,
      prefix: h.iso.queuePrefix,
      autorun: false,
    });
  }

  /** Only the job (of id `id`: a generation id, or a later run's job id), leaving the record as it is. */
  async failJob(id: string): Promise<void> {
    const token = randomUUID();
    const job = await this.worker.getNextJob(token, { block: false });
    if (!job || job.id !== id) throw new Error(`expected to take job ${id} from the queue, took ${job?.id}`);
    await job.moveToFailed(new UnrecoverableError('x'), token);
    expect(await this.h.queue.getJobState(id)).toBe('failed');
  }

  /** The job and its record, as the worker leaves a generation it gave up on. */
  async fail(id: string): Promise<{ startedAt: Date; completedAt: Date }> {
    await this.failJob(id);
    const completedAt = new Date();
    const startedAt = new Date(completedAt.getTime() - 1000);
    await generationsOf(this.h).updateOne(
      { _id: new ObjectId(id) },
      { $set: { status: 'failed', error: 'x', started_at: startedAt, completed_at: completedAt } },
    );
    return { startedAt, completedAt };
  }

  async close(): Promise<void> {
    await this.worker.close();
    this.redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Bootstrap and config
// ---------------------------------------------------------------------------------------------
