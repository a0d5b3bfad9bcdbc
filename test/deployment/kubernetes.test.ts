import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { parse, parseAllDocuments } from 'yaml';
import { bullmqKeys } from '@imagegen/core';
import { HASH_TAG, QUEUES, redisTarget } from '@imagegen/shared';
import { ApiSettings, loadApiConfig } from '../../services/api/src/config';
import { WorkerSettings, loadWorkerConfig } from '../../services/worker/src/config';
import { isolation, type Isolation } from '../support/isolation';
import { spawnApi, spawnWorker, type SpawnedService } from '../support/services';

const DIR = resolve(__dirname, '../../deploy/kubernetes');
const read = (file: string) => readFileSync(resolve(DIR, file), 'utf8');
const FILES = readdirSync(DIR).filter((file) => /\.ya?ml$/.test(file));
/** Applied by hand, filled in; kustomization.yaml leaves it out so its placeholders are never applied. */
const SECRET_EXAMPLE = 'secret.example.yaml';

interface KeyRef {
  name: string;
  key: string;
  optional?: boolean;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: KeyRef; secretKeyRef?: KeyRef };
}
interface Probe {
  httpGet?: { path: string; port: number | string };
}
interface Container {
  image: string;
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean };
}
type Labels = Record<string, string>;
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Labels };
}
interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Labels };
    template: {
      metadata: { labels: Labels };
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
        containers: Container[];
      };
    };
  };
}
interface ConfigMap extends K8sObject {
  data?: Record<string, string>;
}
interface Secret extends K8sObject {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
interface Service extends K8sObject {
  spec: { selector: Labels; ports: { targetPort: number | string }[] };
}
interface PodDisruptionBudget extends K8sObject {
  spec: { selector: { matchLabels: Labels } };
}
interface HorizontalPodAutoscaler extends K8sObject {
  spec: { scaleTargetRef: { name: string }; metrics: { type: string; resource?: { name: string } }[] };
}
interface RedisTrigger {
  type: string;
  metadata: { address?: string; listName: string; listLength: string };
  authenticationRef: { name: string };
}
interface ScaledObject extends K8sObject {
  spec: {
    scaleTargetRef: { name: string };
    minReplicaCount: number;
    maxReplicaCount: number;
    triggers: RedisTrigger[];
  };
}
interface TriggerAuthentication extends K8sObject {
  spec: { secretTargetRef: { parameter: string; name: string; key: string }[] };
}

const documents = FILES.flatMap((file) => parseAllDocuments(read(file)).map((doc) => ({ file, doc })));
const objects = documents.map(({ doc }) => doc.toJS() as K8sObject | null).filter((o): o is K8sObject => o !== null);
const ofKind = <T extends K8sObject = K8sObject>(kind: string) => objects.filter((o): o is T => o.kind === kind);
function named<T extends K8sObject = K8sObject>(kind: string, name: string): T {
  const found = ofKind<T>(kind).find((o) => o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in ${DIR}`);
  return found;
}

const configMapData = (name: string): Record<string, string> => named<ConfigMap>('ConfigMap', name).data ?? {};
function secretData(name: string): Record<string, string> {
  const secret = named<Secret>('Secret', name);
  const data = Object.entries(secret.data ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64').toString()]);
  return { ...Object.fromEntries(data), ...secret.stringData };
}

/** The environment the kubelet gives the pod's container: envFrom first, then env with its references. */
function podEnv(deployment: Deployment): Record<string, string> {
  const [container] = deployment.spec.template.spec.containers;
  const env: Record<string, string> = {};
  for (const source of container?.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, configMapData(source.configMapRef.name));
    else if (source.secretRef) Object.assign(env, secretData(source.secretRef.name));
  }
  for (const { name, value, valueFrom } of container?.env ?? []) {
    const ref = valueFrom?.configMapKeyRef ?? valueFrom?.secretKeyRef;
    if (value !== undefined) env[name] = value;
    else if (!ref) throw new Error(`${name}: neither a value nor a ConfigMap or Secret key`);
    else {
      const data = valueFrom?.configMapKeyRef ? configMapData(ref.name) : secretData(ref.name);
      if (ref.key in data) env[name] = data[ref.key]!;
      else if (!ref.optional) throw new Error(`${name}: ${ref.name} has no key ${ref.key}; the pod would not start`);
    }
  }
  return env;
}

/** The one placeholder the example Secret leaves invalid on purpose (too short for production). */
const withValidJwtSecret = (env: Record<string, string>) =>
  'JWT_SECRET' in env ? { ...env, JWT_SECRET: randomBytes(32).toString('hex') } : env;

/** Variables passed that a library reads itself (the AWS SDK's credential chain), as in settings.test.ts. */
const READ_BY_LIBRARIES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];

const SERVICES = {
  api: {
    settings: Object.keys(ApiSettings.shape),
    portSetting: 'PORT',
    config: (env: Record<string, string>) => {
      const config = loadApiConfig(env);
      return { port: config.PORT, host: config.HOST, shutdownMs: config.SHUTDOWN_TIMEOUT_MS };
    },
    spawn: spawnApi,
  },
  worker: {
    settings: Object.keys(WorkerSettings.shape),
    portSetting: 'WORKER_HEALTH_PORT',
    config: (env: Record<string, string>) => {
      const config = loadWorkerConfig(env);
      return {
        port: config.WORKER_HEALTH_PORT,
        host: config.WORKER_HEALTH_HOST,
        shutdownMs: config.SHUTDOWN_TIMEOUT_MS,
      };
    },
    spawn: spawnWorker,
  },
};
type ServiceName = keyof typeof SERVICES;

const deployments = ofKind<Deployment>('Deployment');
function deploymentOf(service: ServiceName): Deployment {
  const matching = deployments.filter(
    (d) => d.spec.template.metadata.labels['app.kubernetes.io/component'] === service,
  );
  if (matching.length !== 1) throw new Error(`expected one Deployment of the ${service}, found ${matching.length}`);
  return matching[0]!;
}
const containerOf = (service: ServiceName) => deploymentOf(service).spec.template.spec.containers[0]!;

const PROBES = ['startupProbe', 'readinessProbe', 'livenessProbe'] as const;
function probesOf(service: ServiceName): { probe: string; path: string; port: number | undefined }[] {
  const container = containerOf(service);
  return PROBES.map((probe) => {
    const http = container[probe]?.httpGet;
    if (!http) throw new Error(`the ${service} has no HTTP ${probe}`);
    const port =
      typeof http.port === 'number' ? http.port : container.ports?.find((p) => p.name === http.port)?.containerPort;
    return { probe, path: http.path, port };
  });
}

const isSubset = (subset: Labels, of: Labels) => Object.entries(subset).every(([key, value]) => of[key] === value);

describe('deploy/kubernetes: the manifests against what the services read and serve', () => {
  test('when every file is parsed, then each document is valid YAML and each object has apiVersion, kind and a name', () => {
    expect(FILES.length).toBeGreaterThan(1);
    for (const { file, doc } of documents) expect({ file, errors: doc.errors }).toEqual({ file, errors: [] });
    for (const o of objects) {
      expect(o).toMatchObject({ apiVersion: expect.any(String), kind: expect.any(String) });
      expect(o.metadata?.name).toEqual(expect.any(String));
    }
  });

  test('when kustomize builds the directory, then it lists every manifest but the example Secret, and sets both images', () => {
    const kustomization = parse(read('kustomization.yaml')) as {
      namespace: string;
      resources: string[];
      images: { name: string }[];
    };
    const manifests = FILES.filter((file) => file !== 'kustomization.yaml' && file !== SECRET_EXAMPLE);
    expect([...kustomization.resources].sort()).toEqual(manifests.sort());
    expect(kustomization.images.map((image) => image.name).sort()).toEqual(
      deployments.map((d) => d.spec.template.spec.containers[0]!.image).sort(),
    );
    expect(named('Secret', 'imagegen-secrets').metadata).toMatchObject({ namespace: kustomization.namespace });
  });

  test.each(Object.keys(SERVICES) as ServiceName[])(
    'when the %s pod starts, then every variable it is given is a setting it reads, and the ConfigMap values parse with its schema',
    (service) => {
      const env = podEnv(deploymentOf(service));
      const unknown = Object.keys(env).filter(
        (key) => !SERVICES[service].settings.includes(key) && !READ_BY_LIBRARIES.includes(key),
      );
      expect({ service, unknown }).toEqual({ service, unknown: [] });
      // A bad value throws a ConfigError naming it, as the service would exit at start.
      expect(() => SERVICES[service].config(withValidJwtSecret(env))).not.toThrow();
    },
  );

  test('when the example Secret is applied unedited, then the API refuses to start, naming JWT_SECRET', () => {
    expect(() => loadApiConfig(podEnv(deploymentOf('api')))).toThrow(/JWT_SECRET/);
  });

  test('when the ConfigMaps and the Secret are read, then each of their keys reaches a pod, and the worker is not given the API secrets', () => {
    const given = new Set(
      deployments.flatMap((d) =>
        d.spec.template.spec.containers.flatMap((c) => [
          ...(c.envFrom ?? []).map((source) => `ConfigMap/${source.configMapRef?.name}`),
          ...(c.env ?? []).flatMap(({ valueFrom }) =>
            valueFrom?.secretKeyRef ? [`Secret/${valueFrom.secretKeyRef.name}/${valueFrom.secretKeyRef.key}`] : [],
          ),
        ]),
      ),
    );
    for (const map of ofKind('ConfigMap')) expect(given).toContain(`ConfigMap/${map.metadata.name}`);
    for (const secret of ofKind('Secret'))
      for (const key of Object.keys(secretData(secret.metadata.name)))
        expect(given).toContain(`Secret/${secret.metadata.name}/${key}`);
    expect(Object.keys(podEnv(deploymentOf('worker')))).not.toContain('JWT_SECRET');
  });

  test.each(Object.keys(SERVICES) as ServiceName[])(
    'when the %s pod is stopped, then its grace period outlasts SHUTDOWN_TIMEOUT_MS set in its ConfigMap',
    (service) => {
      const deployment = deploymentOf(service);
      const env = podEnv(deployment);
      expect(env.SHUTDOWN_TIMEOUT_MS).toBeDefined();
      const { shutdownMs } = SERVICES[service].config(withValidJwtSecret(env));
      expect(deployment.spec.template.spec.terminationGracePeriodSeconds! * 1000).toBeGreaterThan(shutdownMs);
    },
  );

  test.each(Object.keys(SERVICES) as ServiceName[])(
    'when the %s pod runs, then its container port and every probe are the port it listens on, on all interfaces',
    (service) => {
      const { port, host } = SERVICES[service].config(withValidJwtSecret(podEnv(deploymentOf(service))));
      expect(containerOf(service).ports?.map((p) => p.containerPort)).toEqual([port]);
      for (const probe of probesOf(service)) expect(probe).toMatchObject({ port });
      expect(['0.0.0.0', '::']).toContain(host);
    },
  );

  test('when pods are scheduled, then they run as non-root with requests and limits, and the Service, budgets and autoscalers find them', () => {
    for (const service of Object.keys(SERVICES) as ServiceName[]) {
      const deployment = deploymentOf(service);
      const pod = deployment.spec.template;
      // One container: the environment and probes above are read from it.
      expect(pod.spec.containers).toHaveLength(1);
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: expect.any(Number) });
      expect(pod.spec.securityContext?.runAsUser).toBeGreaterThan(0);
      const container = containerOf(service);
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false });
      for (const bound of ['requests', 'limits'] as const)
        expect(container.resources?.[bound]).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(isSubset(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
      // Autoscaled: a count in the manifest would undo the autoscaler's at every apply.
      expect(deployment.spec.replicas).toBeUndefined();
      const budgets = ofKind<PodDisruptionBudget>('PodDisruptionBudget').filter((b) =>
        isSubset(b.spec.selector.matchLabels, pod.metadata.labels),
      );
      expect({ service, budgets: budgets.length }).toEqual({ service, budgets: 1 });
    }
    const api = deploymentOf('api');
    const [service] = ofKind<Service>('Service');
    expect(isSubset(service!.spec.selector, api.spec.template.metadata.labels)).toBe(true);
    expect(containerOf('api').ports?.map((p) => p.name)).toContain(service!.spec.ports[0]!.targetPort);
    const [hpa] = ofKind<HorizontalPodAutoscaler>('HorizontalPodAutoscaler');
    expect(hpa).toMatchObject({ apiVersion: 'autoscaling/v2', spec: { scaleTargetRef: { name: api.metadata.name } } });
    expect(hpa!.spec.metrics).toEqual([
      expect.objectContaining({ resource: expect.objectContaining({ name: 'cpu' }) }),
    ]);
  });

  describe('the probes, on the services started as their pods are', () => {
    let iso: Isolation;
    const running: Partial<Record<ServiceName, SpawnedService>> = {};

    beforeAll(async () => {
      iso = isolation();
      await Promise.all(
        (Object.keys(SERVICES) as ServiceName[]).map(async (service) => {
          // The pod's own settings, but on this test's stores and a free port: the Redis and MongoDB
          // the manifests name (and their credentials) are the cluster's, not the test stack's.
          const pod = withValidJwtSecret(podEnv(deploymentOf(service)));
          const local = Object.entries(pod).filter(
            ([key]) => !key.startsWith('REDIS_') && key !== SERVICES[service].portSetting,
          );
          running[service] = await SERVICES[service].spawn({
            ...Object.fromEntries(local),
            MONGODB_URI: iso.mongoUri,
            REDIS_URL: iso.redisUrl,
            QUEUE_PREFIX: iso.queuePrefix,
          });
        }),
      );
    });

    afterAll(async () => {
      await Promise.all(Object.values(running).map((s) => s.stop()));
      await iso?.cleanup();
    });

    test.each(Object.keys(SERVICES) as ServiceName[])(
      'when the kubelet asks the %s its probe paths, then each answers 200 with its JSON health, not metrics',
      async (service) => {
        for (const { probe, path } of probesOf(service)) {
          const res = await fetch(new URL(path, running[service]!.url));
          await res.body?.cancel();
          expect({ probe, path, status: res.status }).toEqual({ probe, path, status: 200 });
          expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        }
      },
    );
  });

  describe("KEDA's trigger, against BullMQ on the test Redis", () => {
    const worker = () => loadWorkerConfig(podEnv(deploymentOf('worker')));
    const scaledObject = () => named<ScaledObject>('ScaledObject', 'imagegen-worker');
    const lists = () => scaledObject().spec.triggers.map((t) => t.metadata);
    let redis: Redis;

    beforeAll(() => {
      const url = process.env.IMAGEGEN_TEST_REDIS_URL;
      if (!url) throw new Error('the test Redis is not set up: run the tests through jest (globalSetup)');
      redis = new Redis(url, { maxRetriesPerRequest: null });
    });

    afterAll(() => redis?.disconnect());

    test('when the worker is autoscaled, then KEDA reads its queue lists, one worker per WORKER_CONCURRENCY jobs, with a floor, a ceiling and the Redis password', () => {
      const config = worker();
      expect(config.QUEUE_PREFIX).toBe('{imagegen}');
      expect(config.QUEUE_PREFIX).toMatch(HASH_TAG);
      const keys = bullmqKeys({ name: QUEUES.generations, opts: { prefix: config.QUEUE_PREFIX } });
      expect(
        lists()
          .map((list) => list.listName)
          .sort(),
      ).toEqual([keys.active, keys.wait].sort());
      for (const list of lists()) expect(list).toMatchObject({ listLength: String(config.WORKER_CONCURRENCY) });

      const { spec } = scaledObject();
      expect(spec.scaleTargetRef.name).toBe(deploymentOf('worker').metadata.name);
      expect(spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(spec.maxReplicaCount).toBeGreaterThan(spec.minReplicaCount);

      // The trigger type follows the Redis mode the worker's settings name; `redis` reads REDIS_URL's server.
      const target = redisTarget(config);
      const types = { standalone: 'redis', cluster: 'redis-cluster', sentinel: 'redis-sentinel' };
      const redisUrl = new URL(config.REDIS_URL);
      for (const trigger of spec.triggers) {
        expect(trigger.type).toBe(types[target.mode]);
        if (target.mode === 'standalone')
          expect(trigger.metadata.address).toBe(`${redisUrl.hostname}:${redisUrl.port || 6379}`);
        const auth = named<TriggerAuthentication>('TriggerAuthentication', trigger.authenticationRef.name);
        const password = auth.spec.secretTargetRef.find((ref) => ref.parameter === 'password');
        const podPassword = containerOf('worker').env?.find((v) => v.name === 'REDIS_PASSWORD')?.valueFrom
          ?.secretKeyRef;
        expect(password).toMatchObject({ name: podPassword?.name, key: podPassword?.key });
      }
    });

    test("when a job is added to the generations queue under the ConfigMap's prefix and a worker takes it, then the lists KEDA reads hold it", async () => {
      const prefix = worker().QUEUE_PREFIX;
      const [waiting, running] = ['wait', 'active'].map(
        (end) => lists().find((l) => l.listName.endsWith(`:${end}`))!.listName,
      );
      const existed = (await redis.keys(`${prefix}:${QUEUES.generations}:*`)).length > 0;
      const queue = new Queue(QUEUES.generations, { connection: redis, prefix });
      const connection = redis.duplicate();
      const taker = new Worker(QUEUES.generations, null, { connection, prefix });
      const jobId = `kubernetes-test-${randomBytes(4).toString('hex')}`;
      const token = `token-${jobId}`;
      try {
        expect(bullmqKeys(queue)).toEqual({ wait: waiting, active: running });
        const before = await redis.llen(waiting!);
        // lifo puts it at the end of wait that workers take from, so the take below gets this job.
        await queue.add('kubernetes-test', {}, { jobId, lifo: true });
        expect(await redis.llen(waiting!)).toBe(before + 1);
        expect(await redis.lpos(waiting!, jobId)).not.toBeNull();

        const taken = await taker.getNextJob(token);
        expect(taken?.id).toBe(jobId);
        expect(await redis.llen(waiting!)).toBe(before);
        expect(await redis.lpos(running!, jobId)).not.toBeNull();
        await taken!.moveToCompleted(null, token, false);
      } finally {
        await (await queue.getJob(jobId))?.remove();
        // The prefix is the real one: remove the whole queue only when this test made it.
        if (!existed) await queue.obliterate({ force: true });
        await taker.close();
        await queue.close();
        connection.disconnect();
      }
    });
  });
});
