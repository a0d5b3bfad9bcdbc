import { EventsHeaders, EventsQuery } from './generation.schemas';
import type { AuthGuard } from '../http/auth';
import { IdParams } from '../http/id-params';
import type { RouteTable } from '../http/route';
import { refusals } from '../openapi/responses';
import { BAD_ID, EventStream, NOT_FOUND } from './generation.openapi';
import type { GenerationService } from './generation.service';
import type { GenerationStreams } from './generation-streams';

/**
 * `GET /api/generations/:id/events`: the live status stream. Authenticated like the other routes
 * (bearer token), or by a stream token in `?token=`, good only for this generation: so its table
 * has no guard of its own, and is mounted before the generation routes'.
 */
export function generationEventRoutes(
  routes: RouteTable,
  stream: AuthGuard,
  service: GenerationService,
  streams: GenerationStreams,
): void {
  routes.get('/:id/events', {
    summary: 'Follow a generation live (Server-Sent Events)',
    auth: stream,
    params: IdParams,
    query: EventsQuery,
    headers: EventsHeaders,
    // `?token=` is the stream token's security scheme.
    undocumented: ['query'],
    responses: {
      200: { description: 'The event stream', content: { 'text/event-stream': { schema: EventStream } } },
      204: { description: 'Last-Event-ID was the stream’s end already: stop reconnecting' },
      ...refusals({
        400: `${BAD_ID}, a malformed Last-Event-ID, or an unknown query parameter`,
        401: 'No valid bearer token, nor a stream token of this generation',
        404: NOT_FOUND,
        429: 'Too many event streams open: yours (EVENTS_STREAMS_PER_USER), or this server’s',
        503: true,
      }),
    },
    handler: async ({ params, headers, auth, res }) => {
      const doc = await service.owned(auth.sub, params.id);
      await streams.stream(res, doc, headers['last-event-id']);
    },
  });
}
