import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { componentDefinitions, registerSecuritySchemes } from './components';
import { registerWebhookPaths } from './webhooks.paths';

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

/** The service's own version (`src/openapi` and `dist/openapi` both sit two levels below package.json). */
function serviceVersion(): string {
  const manifest = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

const TAGS = [
  { name: 'Auth', description: 'Accounts and bearer tokens' },
  { name: 'Generations', description: 'Creating and following generations' },
  { name: 'Models', description: 'The models and providers a generation may ask for' },
  { name: 'Webhooks', description: 'Signed notifications of a generation’s start and end' },
  { name: 'Usage', description: 'Images made, runs and time at the providers, and what is left of the quotas' },
  { name: 'Admin', description: 'For admins: queues, everyone’s generations, roles' },
  { name: 'Health', description: 'For load balancers and orchestrators' },
];

type Definition = OpenAPIRegistry['definitions'][number];
const tagOf = (definition: Definition) => (definition.type === 'route' ? definition.route.tags?.[0] : undefined);
const tagRank = (definition: Definition) => TAGS.findIndex(({ name }) => name === tagOf(definition));

/**
 * The OpenAPI 3.1 document of the API, generated from the zod schemas its routes validate and
 * answer with: `routes` holds the operations the route tables declared as they were built.
 * Operations are listed tag by tag, in the order routes were declared within each.
 */
export function buildOpenApiDocument(routes: OpenAPIRegistry): OpenApiDocument {
  const registry = new OpenAPIRegistry([routes]);
  registerSecuritySchemes(registry);
  registerWebhookPaths(registry);
  const definitions = [...registry.definitions].sort((a, b) => tagRank(a) - tagRank(b));
  const generator = new OpenApiGeneratorV31([...componentDefinitions(), ...definitions]);
  return generator.generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'imagegen API',
      version: serviceVersion(),
      description:
        'Text-to-image through Hugging Face Inference Providers (or OpenAI Images), queued. Every JSON answer is an envelope: `{success, message, data}` ' +
        'on success, `{success: false, message, errors?}` when refused. Every answer carries an X-Request-Id.',
    },
    tags: TAGS,
  });
}
