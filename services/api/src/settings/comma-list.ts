import { z } from 'zod';

/** `a, b,c` → `['a', 'b', 'c']`. */
export const commaListOf = (list: string) =>
  list
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export const commaList = z.string().transform(commaListOf);
