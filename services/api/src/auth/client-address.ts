import { isIPv6 } from 'node:net';

/**
 * What sign-in and registration limits count per: the client's IPv4 address, or the /64 of its
 * IPv6 one. One IPv6 host is usually given a whole /64, so counting per address would hand it
 * 2^64 fresh counters; an IPv4-mapped address counts as the IPv4 one it carries.
 */
export function addressKey(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const zoneless = ip.split('%')[0]!;
  if (!isIPv6(zoneless)) return zoneless;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(zoneless);
  if (mapped) return mapped[1]!;
  // The URL parser writes the address canonically, in hex groups only (embedded IPv4 included).
  const canonical = new URL(`http://[${zoneless}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = canonical.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const full = [...groups(head), ...Array<string>(canonical.includes('::') ? missing : 0).fill('0'), ...groups(tail)];
  return `${full.slice(0, 4).join(':')}::/64`;
}
