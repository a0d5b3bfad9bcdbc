import { z } from 'zod';
import { ObjectIdString } from '@imagegen/shared';

/**
 * `:id` of the routes with one. Lower-cased here, once, so that code after it can compare ids as
 * strings (an upper-case id once slipped past the check that an admin does not demote themself).
 */
export const IdParams = z.object({ id: ObjectIdString.toLowerCase() });
export type IdParams = z.infer<typeof IdParams>;
