import type { Response } from 'express';
import type { ApiSuccess } from '@imagegen/shared';

/** Sends a success in the envelope `{success, message, data}` of the original API, which its clients read. */
export function respond<T>(res: Response, status: number, message: string, data: T): void {
  const body: ApiSuccess<T> = { success: true, message, data };
  res.status(status).json(body);
}
