import {
  CreateGenerationHeaders,
  GetGenerationHeaders,
  appliedPreferences,
} from '../src/generations/generation.schemas';
import { parsePrefer } from '../src/http/prefer';

/** The `Prefer` header (RFC 7240) as the generation routes read it. */

describe('parsePrefer', () => {
  test.each<[string | undefined, Record<string, string>]>([
    [undefined, {}],
    ['', {}],
    ['respond-async', { 'respond-async': '' }],
    ['wait=10, return=minimal', { wait: '10', return: 'minimal' }],
    ['Return=minimal', { return: 'minimal' }],
    ['return = minimal', { return: 'minimal' }],
    ['return="minimal"', { return: 'minimal' }],
    ['return=minimal; foo=bar', { return: 'minimal' }],
    ['foo; return=minimal', { foo: '' }],
    ['return=representation, return=minimal', { return: 'representation' }],
    ['foo="a, b; c", wait=5', { foo: 'a, b; c', wait: '5' }],
    ['foo="say \\"hi\\"", wait=5', { foo: 'say "hi"', wait: '5' }],
    [' , ,wait=3', { wait: '3' }],
  ])('when Prefer is %j, then its preferences are %j', (header, expected) => {
    expect(Object.fromEntries(parsePrefer(header))).toEqual(expected);
  });
});

describe('the create headers', () => {
  const prefer = (value: string | undefined) => CreateGenerationHeaders.parse({ prefer: value }).prefer;

  test.each<[string | undefined, number | undefined, 'full' | 'minimal']>([
    [undefined, undefined, 'full'],
    ['wait=10', 10, 'full'],
    ['WAIT=10', 10, 'full'],
    ['wait=999', 60, 'full'],
    ['wait=0', 0, 'full'],
    ['wait=10abc', undefined, 'full'],
    ['wait=-5', undefined, 'full'],
    ['respond-async, wait=10', 0, 'full'],
    ['wait=10, return=minimal', 10, 'minimal'],
    ['return=MINIMAL', undefined, 'minimal'],
    ['return=minimalist', undefined, 'full'],
    ['return=representation', undefined, 'full'],
    ['foo; wait=5', undefined, 'full'],
  ])('when Prefer is %j, then the wait is %j and the answer %s', (header, wait, representation) => {
    expect(prefer(header)).toEqual({ wait, representation });
  });

  test.each<[string | undefined, string | undefined]>([
    [undefined, undefined],
    ['respond-async', undefined],
    ['wait=10', 'wait=10'],
    ['wait=999', 'wait=60'],
    ['return=minimal', 'return=minimal'],
    ['wait=10, return=minimal', 'wait=10, return=minimal'],
  ])('when Prefer is %j, then Preference-Applied is %j', (header, applied) => {
    expect(appliedPreferences(prefer(header))).toBe(applied);
  });
});

describe('the get headers', () => {
  test('when a get asks to wait, then the wait is dropped (a get does not wait) and only return=minimal is applied', () => {
    const { prefer } = GetGenerationHeaders.parse({ prefer: 'wait=10, return=minimal' });
    expect(prefer).toEqual({ wait: undefined, representation: 'minimal' });
    expect(appliedPreferences(prefer)).toBe('return=minimal');
    expect(appliedPreferences(GetGenerationHeaders.parse({ prefer: 'wait=10' }).prefer)).toBeUndefined();
  });
});
