import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { signatureHeader } from '../src/webhooks/signature';

/** A fresh secret in the Standard Webhooks form: `whsec_` and a base64 key. */
function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const ID = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
const BODY = JSON.stringify({
  type: 'generation.completed',
  data: { id: '65f0c0ffee0000000000beef', status: 'completed' },
});

/** The three headers a receiver gets, signed now (the verifier refuses timestamps more than 5 minutes off). */
function signedHeaders(secrets: string[], id = ID, body = BODY, timestamp = Math.floor(Date.now() / 1000)) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signatureHeader(secrets, id, timestamp, body),
  };
}

/** Whether the reference implementation accepts the message with `secret`. */
function verifies(secret: string, body: string, headers: Record<string, string>): boolean {
  try {
    new Webhook(secret).verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

describe('signatureHeader', () => {
  test('when signed with one secret, then the standardwebhooks library verifies it with that secret', () => {
    const secret = newSecret();
    const headers = signedHeaders([secret]);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(secret).verify(BODY, headers)).toEqual(JSON.parse(BODY));
  });

  test('when signed with two secrets, then the header has two v1 parts and each secret alone verifies', () => {
    const [oldSecret, newSecretOfRotation] = [newSecret(), newSecret()];
    const headers = signedHeaders([oldSecret, newSecretOfRotation]);
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    parts.forEach((part) => expect(part).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/));
    expect(parts[0]).not.toBe(parts[1]);
    expect(verifies(oldSecret, BODY, headers)).toBe(true);
    expect(verifies(newSecretOfRotation, BODY, headers)).toBe(true);
  });

  test('when the body, id or timestamp is changed after signing, then verification fails', () => {
    const secret = newSecret();
    const headers = signedHeaders([secret]);
    expect(verifies(secret, BODY, headers)).toBe(true);
    expect(verifies(secret, BODY.replace('completed', 'failed'), headers)).toBe(false);
    expect(verifies(secret, `${BODY} `, headers)).toBe(false);
    expect(verifies(secret, BODY, { ...headers, 'webhook-id': `${ID}x` })).toBe(false);
    const shifted = String(Number(headers['webhook-timestamp']) - 1);
    expect(verifies(secret, BODY, { ...headers, 'webhook-timestamp': shifted })).toBe(false);
  });

  test('when verified with a secret that did not sign, then verification fails', () => {
    const headers = signedHeaders([newSecret(), newSecret()]);
    expect(verifies(newSecret(), BODY, headers)).toBe(false);
  });

  test('when compared with an HMAC-SHA256 computed apart over id.timestamp.body, then each part matches', () => {
    const secrets = [newSecret(), newSecret()];
    const timestamp = 1_700_000_000;
    const expected = secrets.map((secret) => {
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      return `v1,${createHmac('sha256', key).update(`${ID}.${timestamp}.${BODY}`).digest('base64')}`;
    });
    expect(signatureHeader(secrets, ID, timestamp, BODY)).toBe(expected.join(' '));
  });

  test('when the body has non-ASCII text, then the signature covers its UTF-8 bytes and verifies', () => {
    const secret = newSecret();
    const body = JSON.stringify({ prompt: 'un renard roux dans la neige ❄️, 雪の中の狐' });
    const headers = signedHeaders([secret], ID, body);
    expect(verifies(secret, body, headers)).toBe(true);
    expect(verifies(secret, Buffer.from(body, 'utf8').toString('latin1'), headers)).toBe(false);
  });
});
