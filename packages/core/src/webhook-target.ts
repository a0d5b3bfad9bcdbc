import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { withTimeout } from './with-timeout';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every answer for a hostname, as `dns.lookup` with `all: true` gives them. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, order: 'verbatim' });

export interface TargetPolicy {
  /** Lets webhooks reach private and loopback addresses: for local development and tests only. */
  allowPrivate: boolean;
  resolve?: Resolver;
}

/** All a client is told of a webhook host we refuse, whatever the reason. */
export const NOT_PUBLIC = 'not a public address';

/**
 * A webhook URL we will not call. `forbidden` is for good (the host is or resolves to a non-public
 * address); `unresolvable` may pass later, once its DNS answers. The message is what clients see:
 * the address a name resolved to, or whether it resolved at all, would let a user map our internal
 * DNS one request at a time, so both say only NOT_PUBLIC; `detail` says which, for our logs.
 */
export class WebhookTargetError extends Error {
  constructor(
    readonly reason: 'forbidden' | 'unresolvable',
    readonly detail: string,
    /** The resolver could not answer (timed out, try again): ours to retry, not the URL's fault. */
    readonly temporary = false,
  ) {
    super(temporary ? 'its address could not be looked up just now' : NOT_PUBLIC);
    this.name = 'WebhookTargetError';
  }
}

// ipaddr.js calls IPv4-compatible IPv6 (`::a.b.c.d`, deprecated by RFC 4291) unicast, but no public
// host has one, and some stacks route it to the embedded IPv4 address.
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

const LABELS: Record<string, string> = {
  loopback: 'loopback',
  private: 'private',
  uniqueLocal: 'private',
  linkLocal: 'link-local (cloud metadata)',
  carrierGradeNat: 'shared (carrier-grade NAT)',
  unspecified: 'unspecified',
  multicast: 'multicast',
  broadcast: 'broadcast',
};

/**
 * The range that makes an address unfit for webhooks (private, loopback, link-local, multicast,
 * reserved, …), or null for a public unicast address. IPv4-mapped IPv6 is judged as its IPv4
 * address, and every IPv6 form that embeds one (NAT64, 6to4, Teredo) is refused.
 */
export function forbiddenRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'invalid';
  const ip = ipaddr.process(address);
  const range = ip.range();
  if (range !== 'unicast') return LABELS[range] ?? `reserved (${range})`;
  if (ip.kind() === 'ipv6' && ip.match(IPV4_COMPATIBLE)) return 'reserved (IPv4-compatible)';
  return null;
}

/**
 * The address to connect to for a URL's hostname. A literal IP is checked as it is; a name is
 * resolved and every answer checked, so one private answer among public ones refuses the host, and
 * the caller connects to the address returned here rather than looking the name up again.
 */
export async function resolveTarget(hostname: string, policy: TargetPolicy): Promise<ResolvedAddress> {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(bare);
  const answers = family ? [{ address: bare, family }] : await resolveName(bare, policy.resolve ?? systemResolver);
  if (!policy.allowPrivate) {
    for (const { address } of answers) {
      const range = forbiddenRange(address);
      if (range) {
        const what = address === bare ? `${address} is` : `${bare} resolves to ${address},`;
        throw new WebhookTargetError('forbidden', `${what} a ${range} address`);
      }
    }
  }
  return answers[0]!;
}

/** How long a lookup may take; a request that names a webhook waits for it. */
const RESOLVE_TIMEOUT_MS = 5_000;

async function resolveName(hostname: string, resolve: Resolver): Promise<ResolvedAddress[]> {
  let answers: ResolvedAddress[];
  try {
    answers = await withTimeout(resolve(hostname), RESOLVE_TIMEOUT_MS, () =>
      Object.assign(new Error('timed out'), { code: 'ETIMEOUT' }),
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const temporary = code === 'EAI_AGAIN' || code === 'ETIMEOUT' || code === 'ETIMEDOUT';
    throw new WebhookTargetError('unresolvable', `${hostname} could not be resolved (${code})`, temporary);
  }
  if (answers.length === 0) throw new WebhookTargetError('unresolvable', `${hostname} has no address`);
  return answers;
}
