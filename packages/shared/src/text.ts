import { z } from 'zod';

/**
 * A string of well-formed Unicode. JSON may carry lone surrogates (`"\ud800"`), which no UTF-8
 * encoding can hold: MongoDB and the password hash would store U+FFFD in their place, so what we
 * store, or compare, would not be what was sent. Such text is refused instead.
 */
export const Text = () =>
  z.string().refine((text) => text.isWellFormed(), 'must be valid Unicode text (it has a lone surrogate)');
