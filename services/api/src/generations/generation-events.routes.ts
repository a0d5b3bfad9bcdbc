import { Router, type Request } from 'express';
import type { Authenticator } from '../auth/authenticator';
import { UnauthorizedError } from '../errors';
import { bearerToken } from '../http/authenticate';
import { IdParams } from '../http/id-params';
import { validate } from '../http/validate';
import { EventsHeaders, EventsQuery } from './generation.schemas';
import type { GenerationService } from './generation.service';
import type { GenerationStreams } from './generation-streams';

/**
 * `GET /api/generations/:id/events`: the live status stream. Authenticated like the other routes
 * (bearer token), or by a stream token in `?token=`, good only for this generation.
 */
export function generationEventRoutes(
  service: GenerationService,
  streams: GenerationStreams,
  auth: Authenticator,
): Router {
  const router = Router();

  const userOf = async (req: Request, id: string, query: EventsQuery): Promise<string> => {
    const bearer = bearerToken(req);
    const claims = await auth.verify(bearer ?? query.token ?? '');
    if (bearer ? claims.scope !== undefined : claims.scope !== 'events' || claims.gen !== id) {
      throw new UnauthorizedError(
        bearer ? 'Use the stream token in ?token=, not as a bearer token' : 'Invalid stream token',
      );
    }
    return claims.sub;
  };

  router.get(
    '/:id/events',
    validate('params', IdParams),
    validate('query', EventsQuery),
    validate('headers', EventsHeaders),
    async (req, res) => {
      const { id } = res.locals.params as IdParams;
      const query = res.locals.query as EventsQuery;
      if (!bearerToken(req) && !query.token) throw new UnauthorizedError('Missing bearer token or stream token');
      const doc = await service.owned(await userOf(req, id, query), id);
      await streams.stream(res, doc, (res.locals.headers as EventsHeaders)['last-event-id']);
    },
  );

  return router;
}
