/**
 * The admin dashboard (bull-board) driven over plain HTTP, as its page does: sign in through the
 * form with its CSRF field, then call bull-board's API with the session cookie and the
 * `X-XSRF-TOKEN` header its page copies from the cookie of that name.
 */
export class DashboardSession {
  private constructor(
    private readonly baseUrl: string,
    private readonly cookies: Map<string, string>,
  ) {}

  static async signIn(baseUrl: string, email: string, password: string): Promise<DashboardSession> {
    const cookies = new Map<string, string>();
    const form = await fetch(`${baseUrl}/admin/login`);
    keepCookies(form, cookies);
    const csrf = /name="csrf" value="([^"]*)"/.exec(await form.text())?.[1];
    if (!csrf) throw new Error('the sign-in form has no csrf field');
    const signedIn = await fetch(`${baseUrl}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: header(cookies) },
      body: new URLSearchParams({ csrf, email, password }).toString(),
    });
    keepCookies(signedIn, cookies);
    if (signedIn.status !== 303 && signedIn.status !== 302)
      throw new Error(`dashboard sign-in: ${signedIn.status} ${await signedIn.text()}`);
    return new DashboardSession(baseUrl, cookies);
  }

  /** One call of bull-board's API under `/admin/queues/api`; the status and the JSON body. */
  async api<T>(method: string, path: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.baseUrl}/admin/queues/api${path}`, {
      method,
      headers: {
        cookie: header(this.cookies),
        'x-xsrf-token': decodeURIComponent(this.cookies.get('XSRF-TOKEN') ?? ''),
      },
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }
}

function keepCookies(res: Response, cookies: Map<string, string>): void {
  for (const line of res.headers.getSetCookie()) {
    const [pair = ''] = line.split(';');
    const at = pair.indexOf('=');
    cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
}

const header = (cookies: Map<string, string>) => [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
