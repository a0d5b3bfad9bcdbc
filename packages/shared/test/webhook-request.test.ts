import { CreateGenerationRequest, WebhookEvents, WebhookUrl } from '../src';

const NOT_HTTP = 'must be an absolute http:// or https:// URL';
const CREDENTIALS = 'must not carry a user name or password (user@host)';

/** The messages of a refused value, or a marker that makes the expectation fail when it was accepted. */
function messagesOf(result: { success: boolean; error?: { issues: { message: string }[] } }): string[] {
  return result.success ? ['<accepted>'] : result.error!.issues.map((issue) => issue.message);
}

/** The issues of a refused request body, each as its dotted path and message. */
function requestIssues(body: Record<string, unknown>): { path: string; message: string }[] {
  const result = CreateGenerationRequest.safeParse(body);
  expect(result.success).toBe(false);
  return result.error!.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('WebhookUrl', () => {
  test.each([
    ['http://example.com/hook', 'http://example.com/hook'],
    ['https://example.com/hook?a=1&b=2', 'https://example.com/hook?a=1&b=2'],
    ['https://hooks.example.com:8443/x', 'https://hooks.example.com:8443/x'],
  ])('when the URL is %j, then it is accepted as %j', (url, stored) => {
    expect(WebhookUrl.parse(url)).toBe(stored);
  });

  test.each([
    ['http://2130706433/x', 'http://127.0.0.1/x'],
    ['http://0x7f.1/x', 'http://127.0.0.1/x'],
    ['HTTPS://Example.COM:443/a/../hook', 'https://example.com/hook'],
    ['http://example.com', 'http://example.com/'],
    ['http://例え.jp/', 'http://xn--r8jz45g.jp/'],
  ])('when the URL is %j, then it is stored normalized as %j (the URL that is called)', (url, stored) => {
    expect(WebhookUrl.parse(url)).toBe(stored);
  });

  test.each(['ftp://example.com/hook', 'javascript:alert(1)', 'file:///etc/passwd', 'ws://example.com/', 'data:,hi'])(
    'when the scheme is not http(s), as in %j, then it is refused',
    (url) => {
      expect(messagesOf(WebhookUrl.safeParse(url))).toEqual([NOT_HTTP]);
    },
  );

  test.each(['example.com/hook', 'http://', '//example.com/hook', 'http://exa mple.com/', 'not a url'])(
    'when the value %j does not parse as a URL, then it is refused with an issue (safeParse does not throw)',
    (url) => {
      // Calls safeParse in a closure so that a throw fails this expectation instead of the test runner.
      let result: ReturnType<typeof WebhookUrl.safeParse> | undefined;
      expect(() => {
        result = WebhookUrl.safeParse(url);
      }).not.toThrow();
      expect(result?.success).toBe(false);
      expect(result?.error?.issues.map((issue) => issue.message)).toContain(NOT_HTTP);
    },
  );

  test('when the URL is exactly 2048 characters, then it is accepted; at 2049, then it is refused', () => {
    const base = 'https://example.com/';
    const at2048 = base + 'a'.repeat(2048 - base.length);
    expect(at2048).toHaveLength(2048);
    expect(WebhookUrl.parse(at2048)).toBe(at2048);
    expect(messagesOf(WebhookUrl.safeParse(`${at2048}a`))).toEqual(['must be at most 2048 characters']);
  });

  test('when a URL within 2048 characters grows past 2048 once normalized, then it is refused (the stored URL is never longer)', () => {
    const base = 'https://example.com/';
    const url = base + 'é'.repeat(2048 - base.length);
    expect(url).toHaveLength(2048);
    const result = WebhookUrl.safeParse(url);
    // Normalizing percent-encodes each é as %C3%A9: the stored URL would be 6 times as long.
    const stored = result.success ? result.data : '';
    expect(stored.length).toBeLessThanOrEqual(2048);
  });

  test.each([
    'http://user@example.com/',
    'http://a:b@example.com/',
    'http://:pw@example.com/',
    'http://trusted.com@127.0.0.1/',
  ])('when the URL %j carries credentials, then it is refused', (url) => {
    expect(messagesOf(WebhookUrl.safeParse(url))).toEqual([CREDENTIALS]);
  });

  test('when the URL has an empty user part (http://@host), then it is stored without it', () => {
    expect(WebhookUrl.parse('http://@example.com/hook')).toBe('http://example.com/hook');
  });
});

describe('WebhookEvents', () => {
  test.each([[['start']], [['completed']], [['start', 'completed']], [['completed', 'start']]])(
    'when the events are %j, then they are accepted as given',
    (events) => {
      expect(WebhookEvents.parse(events)).toEqual(events);
    },
  );

  test('when the list is empty, then it is refused', () => {
    expect(messagesOf(WebhookEvents.safeParse([]))).toEqual(['must name at least one event']);
  });

  test('when an event repeats, then it is refused', () => {
    expect(messagesOf(WebhookEvents.safeParse(['start', 'completed', 'start']))).toEqual(['must not repeat an event']);
  });

  test('when an event is not start or completed, then it is refused at its index', () => {
    const result = WebhookEvents.safeParse(['start', 'failed']);
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path)).toEqual([[1]]);
  });

  test('when the events are a string instead of a list, then they are refused', () => {
    expect(WebhookEvents.safeParse('start').success).toBe(false);
  });
});

describe('CreateGenerationRequest webhook fields', () => {
  test('when webhook_url and webhook_events are given, then both are kept, the URL normalized', () => {
    const parsed = CreateGenerationRequest.parse({
      prompt: 'a red fox',
      webhook_url: 'HTTPS://Hooks.Example.com/imagegen',
      webhook_events: ['start', 'completed'],
    });
    expect(parsed.webhook_url).toBe('https://hooks.example.com/imagegen');
    expect(parsed.webhook_events).toEqual(['start', 'completed']);
  });

  test('when only webhook_url is given, then webhook_events stays unset (the default is applied later)', () => {
    const parsed = CreateGenerationRequest.parse({ prompt: 'a red fox', webhook_url: 'https://hooks.example.com/' });
    expect(parsed.webhook_url).toBe('https://hooks.example.com/');
    expect(parsed.webhook_events).toBeUndefined();
  });

  test('when neither is given, then the request has no webhook', () => {
    const parsed = CreateGenerationRequest.parse({ prompt: 'a red fox' });
    expect(parsed.webhook_url).toBeUndefined();
    expect(parsed.webhook_events).toBeUndefined();
  });

  test('when webhook_events is given without webhook_url, then it is refused with the issue on webhook_url', () => {
    expect(requestIssues({ prompt: 'a red fox', webhook_events: ['completed'] })).toEqual([
      { path: 'webhook_url', message: 'is required when webhook_events is given' },
    ]);
  });

  test('when both fields are bad, then each issue carries its field path', () => {
    expect(
      requestIssues({ prompt: 'a red fox', webhook_url: 'ftp://hooks.example.com/', webhook_events: ['started'] }),
    ).toEqual([
      { path: 'webhook_url', message: NOT_HTTP },
      { path: 'webhook_events.0', message: expect.any(String) },
    ]);
  });

  test('when webhook_url carries credentials or is null, then it is refused on webhook_url', () => {
    expect(requestIssues({ prompt: 'a red fox', webhook_url: 'http://trusted.com@127.0.0.1/' })).toEqual([
      { path: 'webhook_url', message: CREDENTIALS },
    ]);
    expect(requestIssues({ prompt: 'a red fox', webhook_url: null }).map((issue) => issue.path)).toEqual([
      'webhook_url',
    ]);
  });

  test('when webhook_url is not a URL at all, then the request is refused on webhook_url (safeParse does not throw)', () => {
    let issues: { path: string; message: string }[] = [];
    expect(() => {
      issues = requestIssues({ prompt: 'a red fox', webhook_url: 'hooks.example.com/imagegen' });
    }).not.toThrow();
    expect(issues).toEqual([{ path: 'webhook_url', message: NOT_HTTP }]);
  });
});
