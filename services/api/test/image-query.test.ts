import { fieldErrors } from '@imagegen/shared';
import { ImageParams, ImageQuery } from '../src/generations/image-query';

/** The query and path of the image routes, as the route machinery parses them (`query.` / `params.` fields). */

const ID = '0123456789abcdef01234567';

function refusal(schema: typeof ImageQuery | typeof ImageParams, input: unknown, prefix: string) {
  const result = schema.safeParse(input);
  if (result.success) throw new Error(`${JSON.stringify(input)} was accepted as ${JSON.stringify(result.data)}`);
  return fieldErrors(result.error, prefix);
}

describe('ImageQuery', () => {
  test.each([
    [{}, {}],
    [{ width: '128' }, { width: 128 }],
    [{ width: '256' }, { width: 256 }],
    [
      { width: '512', format: 'png' },
      { width: 512, format: 'png' },
    ],
    [{ format: 'jpeg' }, { format: 'jpeg' }],
    [{ format: 'webp' }, { format: 'webp' }],
  ])('when the query is %j, then it parses to %j', (query, parsed) => {
    expect(ImageQuery.parse(query)).toEqual(parsed);
  });

  test.each(['300', 'abc', '', '256.0', '0x100', ' 256', '-256', '1024'])(
    'when width is %j, then it is refused naming query.width with the allowed widths',
    (width) => {
      expect(refusal(ImageQuery, { width }, 'query.')).toEqual([
        { field: 'query.width', message: 'must be one of 128, 256, 512' },
      ]);
    },
  );

  test('when width is given twice, then it is refused naming query.width', () => {
    expect(refusal(ImageQuery, { width: ['128', '256'] }, 'query.')).toEqual([
      { field: 'query.width', message: 'must be one of 128, 256, 512' },
    ]);
  });

  test.each(['gif', 'PNG', 'jpg', 'image/png', ''])(
    'when format is %j, then it is refused naming query.format with the allowed formats',
    (format) => {
      expect(refusal(ImageQuery, { format }, 'query.')).toEqual([
        { field: 'query.format', message: 'must be one of png, jpeg, webp' },
      ]);
    },
  );

  test('when an unknown parameter comes along, then it is refused by name, beside a bad width', () => {
    expect(refusal(ImageQuery, { size: '256', width: '300' }, 'query.')).toEqual(
      expect.arrayContaining([
        { field: 'query.size', message: 'is not a known field' },
        { field: 'query.width', message: 'must be one of 128, 256, 512' },
      ]),
    );
  });
});

describe('ImageParams', () => {
  test.each([
    ['0', 0],
    ['3', 3],
    ['12', 12],
  ])('when index is %j, then it parses to %d', (index, parsed) => {
    expect(ImageParams.parse({ id: ID, index })).toEqual({ id: ID, index: parsed });
  });

  test.each(['-1', '1.5', 'first', '', '1e2', '0x1'])(
    'when index is %j, then it is refused naming params.index',
    (index) => {
      expect(refusal(ImageParams, { id: ID, index }, 'params.')).toEqual([
        { field: 'params.index', message: 'must be a whole number ≥ 0 (0 is the first image)' },
      ]);
    },
  );
});
