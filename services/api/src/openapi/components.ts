import { getRefId, zodToOpenAPIRegistry, type OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { z } from 'zod';
import {
  ApiFailure,
  AuthResult,
  CreateGenerationRequest,
  FieldError,
  Generation,
  GenerationEvent,
  GenerationPage,
  GenerationSettings,
  GenerationStatus,
  GenerationSummary,
  GenerationUrls,
  LoginRequest,
  ModelInfo,
  ModelList,
  ModelProvider,
  PastRun,
  PublicUser,
  QueueOverview,
  Readiness,
  RegisterRequest,
  StreamToken,
  UpdateUserRequest,
  WebhookAttemptView,
  WebhookDeliveries,
  WebhookMessageView,
  WebhookPayload,
  WebhookRedelivery,
  WebhookSecretView,
} from '@imagegen/shared';

/**
 * The shared schemas the document shows as components, under these names. Not ImageMeta: it is
 * only ever nullable, and the generator writes a nullable `$ref` as `allOf` [the ref, a type that
 * allows null], which no null satisfies.
 */
const COMPONENTS: Record<string, z.ZodType> = {
  ApiFailure,
  FieldError,
  RegisterRequest,
  LoginRequest,
  PublicUser,
  AuthResult,
  CreateGenerationRequest,
  GenerationStatus,
  GenerationSettings,
  PastRun,
  GenerationUrls,
  GenerationSummary,
  Generation,
  GenerationPage,
  GenerationEvent,
  StreamToken,
  ModelProvider,
  ModelInfo,
  ModelList,
  WebhookSecretView,
  WebhookMessageView,
  WebhookAttemptView,
  WebhookDeliveries,
  WebhookRedelivery,
  WebhookPayload,
  QueueOverview,
  UpdateUserRequest,
  Readiness,
};

export const BEARER = 'bearerAuth';
export const STREAM_TOKEN = 'streamToken';

/**
 * The shared schemas as components, each named in place so that every use of it, nested ones
 * included (a Generation's GenerationSettings), becomes a `$ref`: `registry.register` would name a
 * copy, which the shared schemas never nest. All are listed, even where no route's body refers to
 * them (the events of the event stream). The names stay on the schemas for the process's life.
 */
export function componentDefinitions(): Array<{ type: 'schema'; schema: z.ZodType }> {
  return Object.entries(COMPONENTS).map(([name, schema]) => {
    const named = getRefId(schema);
    if (named === undefined) zodToOpenAPIRegistry.add(schema, { _internal: { refId: name } });
    else if (named !== name) throw new Error(`schema ${name} is already named ${named}`);
    // As a definition, not the bare schema: the generator takes a bare zod 4 schema's own `type`
    // ('object', 'union' …) for a definition's, and skips it.
    return { type: 'schema', schema };
  });
}

export function registerSecuritySchemes(registry: OpenAPIRegistry): void {
  registry.registerComponent('securitySchemes', BEARER, {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The token of `POST /api/auth/login` or `POST /api/auth/register`',
  });
  registry.registerComponent('securitySchemes', STREAM_TOKEN, {
    type: 'apiKey',
    in: 'query',
    name: 'token',
    description:
      'A stream token from `POST /api/generations/{id}/events/token`, for EventSource (which sends no headers)',
  });
}
