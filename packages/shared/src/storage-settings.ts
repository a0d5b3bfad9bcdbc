import { z } from 'zod';
import { Duration } from './durations';

export const ImageStoreKind = z.enum(['mongodb', 's3']);
export type ImageStoreKind = z.infer<typeof ImageStoreKind>;

/** SigV4 refuses a presigned URL that lives longer than 7 days. */
const MAX_PRESIGNED_TTL_MS = 7 * 86_400_000;

/** Where image bytes are kept, and how clients are pointed at them. Both services read these. */
export const ImageStoreSettings = z.object({
  /** `mongodb`: the `images` collection (the default, nothing to set up); `s3`: an S3-compatible bucket. */
  IMAGE_STORE: ImageStoreKind.default('mongodb'),
  /**
   * Set while images are moved to IMAGE_STORE by `pnpm images:migrate`: the store they come from.
   * A read that misses IMAGE_STORE looks there, and a delete removes from both.
   */
  IMAGE_STORE_PREVIOUS: ImageStoreKind.optional(),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a bucket name: 3-63 of a-z 0-9 . -')
    .optional(),
  /** Empty for AWS itself; the URL of any other S3-compatible server (R2, MinIO, versitygw). */
  S3_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  /**
   * The endpoint presigned URLs name, when clients reach the bucket by another address than the
   * services do (an internal `http://minio:9000` against a public `https://images.example.com`).
   */
  S3_PUBLIC_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /** `true` for most servers other than AWS: `endpoint/bucket/key` instead of `bucket.endpoint/key`. */
  S3_FORCE_PATH_STYLE: z.stringbool().default(false),
  /** Put before every object key, to share a bucket: `imagegen/` gives `imagegen/<generation id>`. */
  S3_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9!_.*'()/-]{0,200}$/, "letters, digits and !_.*'()/- only, at most 200")
    .default(''),
  /**
   * `api`: `urls.image` is the API's `/image` route. `presigned` (S3 only): a presigned GET URL on
   * the bucket, so image bytes no longer pass through the API.
   */
  IMAGE_URLS: z.enum(['api', 'presigned']).default('api'),
  /** How long a presigned URL works, as `90s`, `15m`, `1h` (at most 7 days). */
  IMAGE_URL_TTL: Duration.pipe(z.number().max(MAX_PRESIGNED_TTL_MS, 'must be at most 7d')).default(3_600_000),
});
export type ImageStoreSettings = z.infer<typeof ImageStoreSettings>;

/** The rules between image store settings; call from the service's superRefine. */
export function checkImageStoreSettings(env: ImageStoreSettings, ctx: z.RefinementCtx): void {
  const usesS3 = env.IMAGE_STORE === 's3' || env.IMAGE_STORE_PREVIOUS === 's3';
  if (usesS3 && !env.S3_BUCKET) {
    ctx.addIssue({
      code: 'custom',
      path: ['S3_BUCKET'],
      message: 'required when IMAGE_STORE or IMAGE_STORE_PREVIOUS is s3',
    });
  }
  if (env.IMAGE_STORE_PREVIOUS && env.IMAGE_STORE_PREVIOUS === env.IMAGE_STORE) {
    ctx.addIssue({ code: 'custom', path: ['IMAGE_STORE_PREVIOUS'], message: 'must differ from IMAGE_STORE' });
  }
  if (env.IMAGE_URLS === 'presigned' && env.IMAGE_STORE !== 's3') {
    ctx.addIssue({ code: 'custom', path: ['IMAGE_URLS'], message: 'presigned needs IMAGE_STORE=s3' });
  }
}
