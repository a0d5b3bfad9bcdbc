import { z } from 'zod';

/**
 * A string of well-formed Unicode. JSON may carry lone surrogates (`"\ud800"`), which no UTF-8
 * encoding can hold: MongoDB and the password hash would store U+FFFD in their place, so what we
 * store, or compare, would not be what was sent. Such text is refused instead.
 */
export const Text = () =>
  z.string().refine((text) => text.isWellFormed(), 'must be valid Unicode text (it has a lone surrogate)');

/**
 * Text that we store: well-formed, and without U+0000. FerretDB on PostgreSQL keeps documents as
 * jsonb, which cannot hold NUL in a string, so the write would fail; NUL means nothing in a prompt or
 * a name, so it is refused with a 400 rather than a failed write. Passwords are only hashed: `Text()`.
 */
export const StoredText = () =>
  Text().refine((text) => !text.includes('\0'), 'must not contain the NUL character (U+0000)');
