import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { labelRoute } from '../http/route-label';
import type { OpenApiDocument } from './document';

const OPENAPI_PATH = '/openapi.json';
const DOCS_PATH = '/docs';

/**
 * Swagger UI, its assets served from swagger-ui-dist here (no CDN). `serveFiles` rather than
 * `serve`: the latter answers its init script from module state that every `setup` overwrites.
 * The online validator is off: its badge is an image from validator.swagger.io, which would be
 * told our document's URL (and which the Content-Security-Policy refuses anyway).
 */
const UI_OPTIONS: swaggerUi.SwaggerUiOptions = {
  swaggerUrl: OPENAPI_PATH,
  customSiteTitle: 'imagegen API',
  swaggerOptions: { validatorUrl: null },
};

/** `GET /openapi.json`: the OpenAPI document; `/docs`: an interactive reference over it. */
export function apiDocsRoutes(document: OpenApiDocument): Router {
  const router = Router();
  router.get(OPENAPI_PATH, labelRoute(OPENAPI_PATH), (_req, res) => {
    res.json(document);
  });
  router.use(DOCS_PATH, swaggerUi.serveFiles(undefined, UI_OPTIONS), swaggerUi.setup(undefined, UI_OPTIONS));
  return router;
}
