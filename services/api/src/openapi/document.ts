import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { registerAdminPaths } from './admin.paths';
import { registerAuthPaths } from './auth.paths';
import { componentDefinitions, registerSecuritySchemes } from './components';
import { registerGenerationPaths } from './generations.paths';
import { registerHealthPaths } from './health.paths';
import { registerModelPaths } from './models.paths';
import { registerWebhookPaths } from './webhooks.paths';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

/** The service's own version (`src/openapi` and `dist/openapi` both sit two levels below package.json). */
function serviceVersion(): string {
  const manifest = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

/** The OpenAPI 3.1 document of the API, generated from the zod schemas its routes validate and answer with. */
export function buildOpenApiDocument(): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registerSecuritySchemes(registry);
  registerAuthPaths(registry);
  registerGenerationPaths(registry);
  registerModelPaths(registry);
  registerWebhookPaths(registry);
  registerAdminPaths(registry);
  registerHealthPaths(registry);
  const generator = new OpenApiGeneratorV31([...componentDefinitions(), ...registry.definitions]);
  return generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'imagegen API',
      version: serviceVersion(),
      description:
        'Text-to-image through Hugging Face Inference Providers (or OpenAI Images), queued. Every JSON answer is an envelope: `{success, message, data}` ' +
        'on success, `{success: false, message, errors?}` when refused. Every answer carries an X-Request-Id.',
    },
    tags: [
      { name: 'Auth', description: 'Accounts and bearer tokens' },
      { name: 'Generations', description: 'Creating and following generations' },
      { name: 'Models', description: 'The models and providers a generation may ask for' },
      { name: 'Webhooks', description: 'Signed notifications of a generation’s start and end' },
      { name: 'Admin', description: 'For admins: queues, everyone’s generations, roles' },
      { name: 'Health', description: 'For load balancers and orchestrators' },
    ],
  });
}
