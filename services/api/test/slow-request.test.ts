import { once } from 'node:events';
import { connect } from 'node:net';
import { SseClient } from '../../../test/support/sse';
import { startHarness, type Harness } from './api-harness';
import { configErrorOf } from './config-error';

/** Small, so the test is short; the defaults are 30 s and 10 s. */
const TIMEOUTS = { HTTP_REQUEST_TIMEOUT_MS: '1000', HTTP_HEADERS_TIMEOUT_MS: '500', EVENTS_HEARTBEAT_MS: '400' };
const DRIP_MS = 100;

interface Dripped {
  /** Everything the server sent before the connection closed. */
  answer: string;
  /** How many of the pieces had been sent when it closed. */
  sent: number;
  total: number;
}

/**
 * Sends `head` at once, then `pieces` one every DRIP_MS (a slow client, or one holding the
 * connection on purpose), and resolves when the server closes the connection.
 */
async function drip(baseUrl: string, head: string, pieces: string[]): Promise<Dripped> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let answer = '';
  let sent = 0;
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(head);
  const timer = setInterval(() => {
    if (sent < pieces.length && !socket.destroyed) socket.write(pieces[sent++]!);
  }, DRIP_MS);
  try {
    // Not `once(socket, 'close')`: it rejects on 'error', and the server closes while this side is
    // still sending, so the connection may end in a reset (ECONNRESET) after the 408 has arrived.
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  } finally {
    clearInterval(timer);
  }
  return { answer, sent, total: pieces.length };
}

describe('slow requests: HTTP_REQUEST_TIMEOUT_MS and HTTP_HEADERS_TIMEOUT_MS', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(TIMEOUTS);
  });

  afterAll(async () => {
    await h?.stop();
  });

  // The attack: a body sent one byte every 5 s held its connection for over 70 s.
  test('when a body comes one byte at a time, then the connection is answered 408 and closed before the body is finished', async () => {
    const body = JSON.stringify({ email: 'slow@example.com', password: 'a password that trickles in' });
    const head =
      'POST /api/auth/login HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    const { answer, sent, total } = await drip(h.baseUrl, head, [...body]);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent).toBeLessThan(total);
  });

  test('when the headers come one line at a time, then the connection is answered 408 and closed before they are finished', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `X-Slow-${i}: ${i}\r\n`);
    const { answer, sent, total } = await drip(h.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: api\r\n', [...lines, '\r\n']);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(sent).toBeLessThan(total);
  });

  test('when a request is sent at once, then it is answered as usual (the timeouts are about slow senders)', async () => {
    expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
  });

  test('when an event stream stays open for heartbeats spanning longer than the request timeout, then it is not cut (the timeout bounds the request, not the answer)', async () => {
    const client = await h.user('streamer@example.com');
    const created = await client.create({ prompt: 'a long wait' });
    const stream = await SseClient.open(`${h.baseUrl}/api/generations/${created.id}/events`, {
      authorization: `Bearer ${client.token!}`,
    });
    try {
      expect(stream.status).toBe(200);
      // Each heartbeat is EVENTS_HEARTBEAT_MS apart: six of them outlast HTTP_REQUEST_TIMEOUT_MS twice over.
      const heartbeats = (c: SseClient) => c.items.filter((i) => i.kind === 'comment').length;
      await stream.waitFor('six heartbeats', (c) => heartbeats(c) >= 6);
      expect(stream.done).toBe(false);
    } finally {
      stream.close();
    }
  });
});

describe('HTTP timeouts in the config', () => {
  test('when the headers timeout is longer than the request timeout, then the config names it', () => {
    const err = configErrorOf({ HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '10000' });
    expect(err.problems).toEqual([expect.stringMatching(/^HTTP_HEADERS_TIMEOUT_MS: /)]);
  });
});
