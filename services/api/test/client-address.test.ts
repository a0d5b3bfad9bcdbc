import { addressKey } from '../src/auth/client-address';

describe('addressKey: what sign-in and registration limits count per', () => {
  test.each([
    ['an IPv4 address', '203.0.113.7', '203.0.113.7'],
    ['an IPv4-mapped IPv6 address', '::ffff:203.0.113.7', '203.0.113.7'],
    ['an IPv6 address', '2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['another address of the same /64', '2001:db8:1:2:ffff::1', '2001:db8:1:2::/64'],
    ['a compressed IPv6 address in upper case', '2001:DB8::1', '2001:db8:0:0::/64'],
    ['an IPv6 address with a zone', 'fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['IPv6 loopback', '::1', '0:0:0:0::/64'],
    ['no address', undefined, 'unknown'],
  ])('when the client is %s, then it counts as %s', (_case, ip, key) => {
    expect(addressKey(ip)).toBe(key);
  });

  test('when two hosts are in different /64s, then they count apart', () => {
    expect(addressKey('2001:db8:1:2::1')).not.toBe(addressKey('2001:db8:1:3::1'));
  });
});
