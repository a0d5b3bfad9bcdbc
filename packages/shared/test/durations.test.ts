import { DurationList, parseDuration } from '../src';

describe('parseDuration', () => {
  test.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['05s', 5_000],
    ['0s', 0],
    [' 30m ', 1_800_000],
  ])('when the text is %j, then it is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '5', 's', 'ms', '1.5s', '-5s', '+5s', '5 s', '5S', '5sec', '5 m', '1h30m', '5s,5m', 'PT5S', '1w'])(
    'when the text is %j, then it is not a duration (null)',
    (text) => {
      expect(parseDuration(text)).toBeNull();
    },
  );
});

describe('DurationList', () => {
  test('when the list is 5s,5m,30m,2h, then it parses to those delays in ms, in order', () => {
    expect(DurationList.parse('5s,5m,30m,2h')).toEqual([5_000, 300_000, 1_800_000, 7_200_000]);
  });

  test('when parts are padded with spaces or the list has one part, then it still parses', () => {
    expect(DurationList.parse(' 500ms , 1d ')).toEqual([500, 86_400_000]);
    expect(DurationList.parse('1d')).toEqual([86_400_000]);
  });

  test('when a part is zero, then the list is refused as not positive, naming the part', () => {
    const result = DurationList.safeParse('5s,0s,5m');
    expect(result.success).toBe(false);
    expect(result.error?.issues).toHaveLength(1);
    expect(result.error?.issues[0]!.message).toBe('"0s" is not a positive duration such as 500ms, 5s, 5m, 2h or 1d');
  });

  test('when several parts are bad, then the one issue names each of them', () => {
    const result = DurationList.safeParse('5s,x,7,1m');
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.message)).toEqual([
      '"x", "7" is not a positive duration such as 500ms, 5s, 5m, 2h or 1d',
    ]);
  });

  test('when the list is empty or has an empty part, then it is refused', () => {
    expect(DurationList.safeParse('').success).toBe(false);
    expect(DurationList.safeParse('5s,,5m').success).toBe(false);
    expect(DurationList.safeParse('5s,').success).toBe(false);
  });

  test('when the value is not a string, then it is refused', () => {
    expect(DurationList.safeParse(5000).success).toBe(false);
    expect(DurationList.safeParse(['5s']).success).toBe(false);
  });
});
