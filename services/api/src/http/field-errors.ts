import type { z } from 'zod';
import type { FieldError } from '@imagegen/shared';

/** Zod issues as `{field, message}`, one per field at fault, so clients can point at the input. */
export function fieldErrors(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: prefix + [...issue.path, key].join('.'),
        message: 'is not a known field',
      }));
    }
    const path = issue.path.join('.');
    return [{ field: path ? prefix + path : prefix.replace(/\.$/, '') || 'body', message: issue.message }];
  });
}
