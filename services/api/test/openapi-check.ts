import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';

// Checks real answers against what the OpenAPI document declares for them, with ajv's JSON Schema
// 2020-12 (OpenAPI 3.1's dialect), and walks the document's `$ref`s.

/** The parts of an OpenAPI 3.1 document the checks read (typed loosely: it is the served JSON). */
export interface Spec {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  webhooks?: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object>; securitySchemes?: Record<string, object> };
}

interface Operation {
  security?: Array<Record<string, string[]>>;
  responses: Record<string, ResponseSpec>;
}

interface ResponseSpec {
  description: string;
  headers?: Record<string, { required?: boolean }>;
  content?: Record<string, { schema?: object }>;
}

export interface Answer {
  status: number;
  headers: Headers;
  /** The body as sent ('' for none, or for a stream cut after its headers). */
  text: string;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const SCHEMA_REF = /^#\/components\/schemas\//;

/** `/api/generations/{id}` as Express writes it: `/api/generations/:id`. */
export const expressPath = (template: string) => template.replace(/\{(\w+)\}/g, ':$1');

/** Every `$ref` in the document that does not point at something in it. */
export function unresolvedRefs(spec: Spec): string[] {
  const bad: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== 'object' || node === null) return;
    const ref = (node as { $ref?: unknown }).$ref;
    if (ref !== undefined && (typeof ref !== 'string' || pointerTarget(spec, ref) === undefined)) bad.push(String(ref));
    Object.values(node).forEach(visit);
  };
  visit(spec);
  return bad;
}

function pointerTarget(spec: Spec, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  const steps = ref
    .slice(2)
    .split('/')
    .map((step) => step.replace(/~1/g, '/').replace(/~0/g, '~'));
  return steps.reduce<unknown>(
    (node, step) => (typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[step] : undefined),
    spec,
  );
}

/**
 * A copy in which every object schema that leaves `additionalProperties` open closes it: the check
 * that the document names every field the API sends. Only sound without `allOf` (whose branches
 * each see only their own properties), which `closedWorld` refuses.
 */
function closedWorld<T>(node: T): T {
  if (Array.isArray(node)) return node.map(closedWorld) as T;
  if (typeof node !== 'object' || node === null) return node;
  if ('allOf' in node) throw new Error('allOf in the document: the closed-world check cannot close its branches');
  const copy = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, closedWorld(value)]));
  if ('properties' in copy && !('additionalProperties' in copy)) copy.additionalProperties = false;
  return copy as T;
}

/** The formats the document uses; ajv knows none without ajv-formats. */
const FORMATS: Record<string, (value: string) => boolean> = {
  'date-time': (value) =>
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(value) &&
    !Number.isNaN(Date.parse(value)),
  uri: (value) => URL.canParse(value),
  email: (value) => /^[^\s@]+@[^\s@]+$/.test(value),
};

/** Where ajv holds the document's component schemas, as `$defs`. */
const COMPONENTS_ID = 'https://imagegen.test/components';

/** A schema with its `#/components/schemas/X` refs pointing where ajv holds the components. */
function resolvable<T>(schema: T): T {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) =>
    key === '$ref' && typeof value === 'string' ? value.replace(SCHEMA_REF, `${COMPONENTS_ID}#/$defs/`) : value,
  ) as T;
}

/** Validates answers against the document; `closed`: also refuse fields the document does not name. */
export class SpecChecker {
  private readonly ajv: Ajv2020;
  private readonly close: <T>(schema: T) => T;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly templates: Array<{ template: string; pattern: RegExp }>;
  /** `METHOD /template STATUS` of every answer checked so far. */
  readonly seen = new Set<string>();

  constructor(
    private readonly spec: Spec,
    { closed = false } = {},
  ) {
    this.close = closed ? closedWorld : (schema) => schema;
    this.ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
    for (const [name, check] of Object.entries(FORMATS)) this.ajv.addFormat(name, check);
    this.ajv.addSchema(resolvable({ $id: COMPONENTS_ID, $defs: this.close(spec.components.schemas) }));
    this.templates = Object.keys(spec.paths).map((template) => ({
      template,
      pattern: new RegExp(`^${template.replace(/\{\w+\}/g, '[^/]+')}$`),
    }));
  }

  private validatorOf(key: string, schema: object): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(resolvable(this.close(schema)));
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** Throws unless `value` is valid against the component `name`. */
  checkComponent(name: string, value: unknown): void {
    const validate = this.validatorOf(`component ${name}`, { $ref: `#/components/schemas/${name}` });
    if (!validate(value)) throw new Error(`not a valid ${name}: ${this.ajv.errorsText(validate.errors)}`);
  }

  /** The document's template for a request path, e.g. `/api/generations/{id}` for `/api/generations/65…`. */
  templateOf(path: string): string {
    const bare = path.split('?', 1)[0]!.replace(/(.)\/$/, '$1');
    const found = this.templates.find(({ pattern }) => pattern.test(bare));
    if (!found) throw new Error(`no path of the document matches ${path}`);
    return found.template;
  }

  /**
   * Throws unless the document declares this answer to `method path`: its status, every header it
   * marks required, its content type, and a body valid against that content's schema. JSON bodies
   * are validated; an event stream's events are checked apart (`checkComponent`).
   */
  check(method: string, path: string, answer: Answer): string {
    const template = this.templateOf(path);
    const operation = this.spec.paths[template]?.[method.toLowerCase()];
    if (!operation) throw new Error(`the document has no ${method} ${template}`);
    const key = `${method.toUpperCase()} ${template} ${answer.status}`;
    const response = operation.responses[String(answer.status)];
    if (!response) {
      throw new Error(`${key}: status not declared (declared: ${Object.keys(operation.responses).join(', ')})`);
    }
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      if (header.required && !answer.headers.has(name)) throw new Error(`${key}: no ${name} header`);
    }
    const type = answer.headers.get('content-type')?.split(';', 1)[0]?.trim();
    if (!response.content) {
      if (answer.text !== '') throw new Error(`${key}: a body where none is declared`);
    } else if (!type || !(type in response.content)) {
      throw new Error(`${key}: content type ${type} not declared (${Object.keys(response.content).join(', ')})`);
    } else if (type === 'application/json') {
      const schema = response.content[type]?.schema;
      if (!schema) throw new Error(`${key}: JSON content without a schema`);
      const validate = this.validatorOf(key, schema);
      if (!validate(JSON.parse(answer.text))) {
        throw new Error(`${key}: body does not match the document: ${this.ajv.errorsText(validate.errors)}`);
      }
    }
    this.seen.add(key);
    return key;
  }
}
