import { SingleBar, Presets } from 'cli-progress';
import { CommonEnv, ImageStoreSettings, checkImageStoreSettings, parseEnv } from '@imagegen/shared';
import { connectMongo, imageStoreOfKind } from '@imagegen/core';
import { ImageMigration } from './images/image-migration';

/**
 * `pnpm images:migrate`: moves every image from IMAGE_STORE_PREVIOUS to IMAGE_STORE, reading the
 * same settings the services run with, so that it always moves images the way they read them.
 * docs/operations.md gives the steps around it.
 */
const MigrateEnv = CommonEnv.pick({ MONGODB_URI: true, MONGODB_WRITE_CONCERN: true })
  .extend(ImageStoreSettings.shape)
  .superRefine(checkImageStoreSettings);

async function main(): Promise<number> {
  const env = parseEnv(MigrateEnv, process.env);
  if (!env.IMAGE_STORE_PREVIOUS) {
    process.stderr.write(
      'images:migrate: set IMAGE_STORE_PREVIOUS to the store to move images from, and IMAGE_STORE to where they go, as the services have them\n',
    );
    return 2;
  }
  const mongo = await connectMongo(env.MONGODB_URI, { writeConcern: env.MONGODB_WRITE_CONCERN });
  const from = imageStoreOfKind(env.IMAGE_STORE_PREVIOUS, env, mongo.db);
  const to = imageStoreOfKind(env.IMAGE_STORE, env, mongo.db);
  try {
    const migration = new ImageMigration(mongo.db, from, to);
    process.stdout.write(`images:migrate: from ${from.description} to ${to.description}\n`);
    // On a terminal a bar redrawn in place; piped (CI, a log), a line now and then.
    const bar = new SingleBar(
      {
        format: 'images:migrate: [{bar}] {value}/{total} moved {moved}, skipped {skipped}',
        noTTYOutput: true,
        notTTYSchedule: 5_000,
      },
      Presets.shades_classic,
    );
    bar.start(await migration.total(), 0, { moved: 0, skipped: 0 });
    const done = await migration.run((progress) => bar.update(progress.moved + progress.skipped, progress));
    bar.stop();
    process.stdout.write(`images:migrate: done: ${done.moved} moved, ${done.skipped} skipped\n`);
    return 0;
  } finally {
    await Promise.all([from.close(), to.close()]);
    await mongo.client.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`images:migrate: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
