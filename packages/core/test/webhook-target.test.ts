import {
  NOT_PUBLIC,
  forbiddenRange,
  resolveTarget,
  WebhookTargetError,
  type ResolvedAddress,
  type Resolver,
} from '../src';

/** Awaits a promise that must reject with a WebhookTargetError, and returns that error. */
async function refusal(promise: Promise<unknown>): Promise<WebhookTargetError> {
  const err = await promise.then(
    () => new Error('expected resolveTarget to refuse'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WebhookTargetError);
  return err as WebhookTargetError;
}

/** A resolver that answers from a fixed table and records every name it was asked for. */
function stubResolver(table: Record<string, ResolvedAddress[]>): jest.MockedFunction<Resolver> {
  return jest.fn(async (hostname: string) => {
    const answers = table[hostname];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers;
  });
}

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

describe('forbiddenRange', () => {
  test.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8'])(
    'when %s (a public address) is checked, then no range forbids it',
    (address) => {
      expect(forbiddenRange(address)).toBeNull();
    },
  );

  test.each([
    // Just outside each private IPv4 range: the ranges are not wider than they should be.
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '192.169.0.0',
    '223.255.255.255',
  ])('when %s (just outside a deny range) is checked, then it is allowed', (address) => {
    expect(forbiddenRange(address)).toBeNull();
  });

  test.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'shared (carrier-grade NAT)'],
    ['100.127.255.255', 'shared (carrier-grade NAT)'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['169.254.0.1', 'link-local (cloud metadata)'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['192.168.255.255', 'private'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fe80::1', 'link-local (cloud metadata)'],
    ['febf::1', 'link-local (cloud metadata)'],
    ['ff00::1', 'multicast'],
    ['ff02::1', 'multicast'],
    // IPv4-mapped IPv6 is judged as the IPv4 address it carries.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:169.254.169.254', 'link-local (cloud metadata)'],
    // IPv6 forms that embed an IPv4 address some stack may route to.
    ['::7f00:1', 'reserved (IPv4-compatible)'],
    ['64:ff9b::7f00:1', 'reserved (rfc6052)'],
    ['64:ff9b::a9fe:a9fe', 'reserved (rfc6052)'],
    ['2002:7f00:1::1', 'reserved (6to4)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved (teredo)'],
  ])('when %s is checked, then it is refused as %s', (address, range) => {
    expect(forbiddenRange(address)).toBe(range);
  });

  test.each(['240.0.0.1', '255.255.255.254', '2001:db8::1', '2001:db8:ffff::1'])(
    'when %s (reserved: 240/4 or the 2001:db8 documentation prefix) is checked, then it is refused as reserved',
    (address) => {
      expect(forbiddenRange(address)).toMatch(/^reserved/);
    },
  );

  test('when the text is not an IP address, then it is refused as invalid', () => {
    expect(forbiddenRange('not-an-ip')).toBe('invalid');
    expect(forbiddenRange('')).toBe('invalid');
  });
});

describe('resolveTarget', () => {
  test('when the hostname is a public IPv4 literal, then it is returned as is and the resolver is never called', async () => {
    const resolve = stubResolver({});
    await expect(resolveTarget('8.8.8.8', { allowPrivate: false, resolve })).resolves.toEqual(v4('8.8.8.8'));
    expect(resolve).not.toHaveBeenCalled();
  });

  test('when the hostname is a bracketed public IPv6 literal, then the bare address is returned and the resolver is never called', async () => {
    const resolve = stubResolver({});
    await expect(resolveTarget('[2606:4700:4700::1111]', { allowPrivate: false, resolve })).resolves.toEqual(
      v6('2606:4700:4700::1111'),
    );
    expect(resolve).not.toHaveBeenCalled();
  });

  test('when the hostname is a loopback IPv4 literal, then it is refused as forbidden without resolving', async () => {
    const resolve = stubResolver({ '127.0.0.1': [v4('8.8.8.8')] });
    const err = await refusal(resolveTarget('127.0.0.1', { allowPrivate: false, resolve }));
    expect(err.reason).toBe('forbidden');
    expect(err.detail).toContain('127.0.0.1 is a loopback address');
    expect(resolve).not.toHaveBeenCalled();
  });

  test('when the hostname is [::1], then it is refused as forbidden without resolving, and allowed with allowPrivate', async () => {
    const resolve = stubResolver({});
    const err = await refusal(resolveTarget('[::1]', { allowPrivate: false, resolve }));
    expect(err.reason).toBe('forbidden');
    expect(err.detail).toContain('::1 is a loopback address');
    await expect(resolveTarget('[::1]', { allowPrivate: true, resolve })).resolves.toEqual(v6('::1'));
    expect(resolve).not.toHaveBeenCalled();
  });

  test('when the hostname is the metadata address, then it is refused as forbidden', async () => {
    const err = await refusal(resolveTarget('169.254.169.254', { allowPrivate: false, resolve: stubResolver({}) }));
    expect(err.reason).toBe('forbidden');
    expect(err.detail).toContain('169.254.169.254');
  });

  test('when a name resolves only to public addresses, then the first answer is returned', async () => {
    const resolve = stubResolver({ 'hooks.example': [v4('93.184.216.34'), v6('2606:2800:220:1::1')] });
    await expect(resolveTarget('hooks.example', { allowPrivate: false, resolve })).resolves.toEqual(
      v4('93.184.216.34'),
    );
    expect(resolve).toHaveBeenCalledTimes(1);
    expect(resolve).toHaveBeenCalledWith('hooks.example');
  });

  test.each([
    [[v4('93.184.216.34'), v4('10.0.0.7')], '10.0.0.7', 'private'],
    [[v4('10.0.0.7'), v4('93.184.216.34')], '10.0.0.7', 'private'],
    [[v6('2606:2800:220:1::1'), v6('::ffff:127.0.0.1')], '::ffff:127.0.0.1', 'loopback'],
  ])(
    'when a name resolves to %j, then it is refused as forbidden naming %s',
    async (answers: ResolvedAddress[], bad: string, range: string) => {
      const resolve = stubResolver({ 'hooks.example': answers });
      const err = await refusal(resolveTarget('hooks.example', { allowPrivate: false, resolve }));
      expect(err.reason).toBe('forbidden');
      expect(err.detail).toContain(`hooks.example resolves to ${bad}, a ${range} address`);
    },
  );

  test('when allowPrivate is true and a name resolves to loopback, then the first answer is returned', async () => {
    const resolve = stubResolver({ 'receiver.test': [v4('127.0.0.1'), v6('::1')] });
    await expect(resolveTarget('receiver.test', { allowPrivate: true, resolve })).resolves.toEqual(v4('127.0.0.1'));
    expect(resolve).toHaveBeenCalledWith('receiver.test');
  });

  test('when the resolver fails with ENOTFOUND, then it is refused as unresolvable naming the code', async () => {
    const resolve = stubResolver({});
    const err = await refusal(resolveTarget('nowhere.example', { allowPrivate: false, resolve }));
    expect(err.reason).toBe('unresolvable');
    expect(err.detail).toContain('nowhere.example');
    expect(err.detail).toContain('ENOTFOUND');
  });

  test('when the resolver fails with ENOTFOUND and allowPrivate is true, then it is still unresolvable', async () => {
    const err = await refusal(resolveTarget('nowhere.example', { allowPrivate: true, resolve: stubResolver({}) }));
    expect(err.reason).toBe('unresolvable');
  });

  test('when the resolver gives no answers, then it is refused as unresolvable', async () => {
    const resolve = stubResolver({ 'empty.example': [] });
    const err = await refusal(resolveTarget('empty.example', { allowPrivate: true, resolve }));
    expect(err.reason).toBe('unresolvable');
    expect(err.detail).toContain('empty.example');
  });

  test('when the system resolver looks up localhost with allowPrivate false, then it is refused as a loopback address', async () => {
    const err = await refusal(resolveTarget('localhost', { allowPrivate: false }));
    expect(err.reason).toBe('forbidden');
    expect(err.detail).toMatch(/^localhost resolves to (127\.\d+\.\d+\.\d+|::1), a loopback address/);
  });

  // The message is what clients read: the address a name resolved to, or that it resolved to
  // nothing, would map our internal DNS for them. `detail` is for our logs.
  test('when a host is refused, whether it is, resolves to, or lacks an address, then the message says only "not a public address"', async () => {
    const resolve = stubResolver({ 'hooks.example': [v4('10.0.0.7')], 'empty.example': [] });
    const refusals = await Promise.all(
      ['10.0.0.7', '[::1]', 'hooks.example', 'nowhere.example', 'empty.example'].map((host) =>
        refusal(resolveTarget(host, { allowPrivate: false, resolve })),
      ),
    );
    expect(refusals.map((err) => err.message)).toEqual(Array(5).fill(NOT_PUBLIC));
    expect(NOT_PUBLIC).toBe('not a public address');
  });
});

describe('a resolver that cannot answer', () => {
  test.each(['EAI_AGAIN', 'ETIMEOUT'])(
    'when the lookup fails with %s, then the refusal is unresolvable and temporary (ours to retry, not the URL’s fault)',
    async (code) => {
      const resolve = () => Promise.reject(Object.assign(new Error(code), { code }));
      const err = await resolveTarget('hooks.example.com', { allowPrivate: false, resolve }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WebhookTargetError);
      expect(err).toMatchObject({ reason: 'unresolvable', temporary: true });
    },
  );

  test('when the name does not exist (ENOTFOUND), then the refusal is not temporary', async () => {
    const resolve = () => Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
    const err = await resolveTarget('nope.example.com', { allowPrivate: false, resolve }).catch((e: unknown) => e);
    expect(err).toMatchObject({ reason: 'unresolvable', temporary: false });
  });
});
