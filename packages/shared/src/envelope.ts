import { z } from 'zod';

/** One input at fault in a 400: `field` is its dotted path (`headers.` / `query.` / `params.` outside the body). */
export const FieldError = z.object({ field: z.string(), message: z.string() });
export type FieldError = z.infer<typeof FieldError>;

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

/** Every refused request answers with this envelope; `errors` comes with a 400 that names its fields. */
export const ApiFailure = z.object({
  success: z.literal(false),
  message: z.string(),
  errors: z.array(FieldError).optional(),
});
export type ApiFailure = z.infer<typeof ApiFailure>;

/** The success envelope around `data`, as the original API sent it and its clients read it. */
export const ApiSuccess = <T extends z.ZodType>(data: T) =>
  z.object({ success: z.literal(true), message: z.string(), data });
/** Every API answer uses the original API's envelope, so that its clients keep working. */
export interface ApiSuccess<T> {
  success: true;
  message: string;
  data: T;
}

export type ApiResponse<T> = ApiSuccess<T> | ApiFailure;
