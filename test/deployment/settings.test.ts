import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { ApiSettings } from '../../services/api/src/config';
import { WorkerSettings } from '../../services/worker/src/config';

const ROOT = resolve(__dirname, '../..');
const read = (file: string) => readFileSync(resolve(ROOT, file), 'utf8');

interface ComposeService {
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
  container_name?: string;
  command?: string[];
  profiles?: string[];
}
// `merge`: the services take the common settings with YAML's `<<` merge key.
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
};

/** Settings a service reads that compose leaves out on purpose. */
const NOT_IN_COMPOSE: Record<string, string> = {
  // Compose requires HF_TOKEN by name; the seed's old name is for running the worker by hand.
  HUGGIN_API_KEY: 'alias of HF_TOKEN',
};

/** Variables compose passes that a library reads itself: the AWS SDK's credential chain. */
const READ_BY_LIBRARIES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];

const services = { api: Object.keys(ApiSettings.shape), worker: Object.keys(WorkerSettings.shape) };

describe('deployment files: .env.example and docker-compose.yml against what the services read', () => {
  test.each(Object.entries(services))(
    'when the %s reads a setting, then .env.example documents it with a comment and its default',
    (_service, keys) => {
      const example = read('.env.example');
      for (const key of keys) {
        // `# KEY=default` (or `KEY=` for those that must be set), right under its explaining comment.
        const line = new RegExp(`^(?:# )?${key}=.*$`, 'm').exec(example);
        expect({ key, documented: line !== null }).toEqual({ key, documented: true });
        const before = example.slice(0, line!.index).trimEnd().split('\n').at(-1) ?? '';
        expect({ key, comment: before.startsWith('#') }).toEqual({ key, comment: true });
      }
    },
  );

  test.each(Object.entries(services))(
    'when the %s reads a setting, then its compose service passes it through from .env',
    (service, keys) => {
      const environment = compose.services[service]?.environment ?? {};
      for (const key of keys.filter((k) => !(k in NOT_IN_COMPOSE))) {
        expect({ key, passed: key in environment }).toEqual({ key, passed: true });
        expect(String(environment[key])).toContain(`\${${key}:`);
      }
      // Nothing compose passes is unknown to the service (a typo would be silently ignored).
      for (const key of Object.keys(environment).filter((k) => !READ_BY_LIBRARIES.includes(k)))
        expect({ service, key, known: keys.includes(key) }).toMatchObject({ known: true });
    },
  );

  test('when compose brings the system up, then every service has a healthcheck, the stores keep data in named volumes, Redis is set up as BullMQ needs, and the worker can be scaled', () => {
    for (const name of ['mongo', 'redis', 'api', 'worker']) {
      const check = compose.services[name]?.healthcheck?.test ?? [];
      expect({ name, healthcheck: check.length > 1 }).toEqual({ name, healthcheck: true });
    }
    const named = Object.keys(compose.volumes ?? {});
    expect(compose.services.mongo?.volumes).toEqual([`${named[0]}:/data/db`]);
    expect(compose.services.redis?.volumes).toEqual([`${named[1]}:/data`]);
    expect(compose.services.redis?.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']));
    const command = compose.services.redis?.command ?? [];
    expect(command[command.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    // `--scale worker=3` fails on a fixed container name or a published host port.
    expect(compose.services.worker?.container_name).toBeUndefined();
    expect(compose.services.worker?.ports).toBeUndefined();
  });

  test('when the sentinel profile is opted into, then a replica follows redis and three Sentinels watch it with a quorum of two, under the name the docs give', () => {
    const inProfile = Object.entries(compose.services).filter(([, service]) => service.profiles?.includes('sentinel'));
    expect(inProfile.map(([name]) => name).sort()).toEqual(['redis-replica', 'sentinel-1', 'sentinel-2', 'sentinel-3']);
    const replica = compose.services['redis-replica']?.command ?? [];
    expect(replica.slice(replica.indexOf('--replicaof'), replica.indexOf('--replicaof') + 3)).toEqual([
      '--replicaof',
      'redis',
      '6379',
    ]);
    for (const name of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
      const script = compose.services[name]?.command?.join(' ') ?? '';
      expect(script).toContain('sentinel monitor imagegen redis 6379 2');
      expect(script).toContain('--sentinel');
    }
    expect(compose.services.api?.environment?.REDIS_SENTINELS).toBe('${REDIS_SENTINELS:-}');
  });
});
