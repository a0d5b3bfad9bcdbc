import { z } from 'zod';
import { ObjectIdString } from '@imagegen/shared';

/** `:id` of the routes under `/api/generations`. */
export const IdParams = z.object({ id: ObjectIdString });
export type IdParams = z.infer<typeof IdParams>;
