import { MongoServerError, ObjectId, type Binary, type Document } from 'mongodb';
import type {
  UserRole,
  CancelReason,
  GenerationSettings,
  GenerationStatus,
  ImageMeta,
  ServingProvider,
  WebhookEvent,
  WebhookAttemptOutcome,
  WebhookMessageState,
  WebhookTrigger,
  WebhookType,
} from '@imagegen/shared';

/** Collection names both services use. */
export const COLLECTIONS = {
  users: 'users',
  generations: 'generations',
  images: 'images',
  imageParts: 'image_parts',
  webhookMessages: 'webhook_messages',
  webhookAttempts: 'webhook_attempts',
  idempotencyKeys: 'idempotency_keys',
  claims: 'claims',
  usage: 'usage',
} as const;

/** A user's webhook signing secret; after a rotation the previous one still signs until it expires. */
export interface WebhookSecretDocument {
  current: string;
  created_at: Date;
  previous: string | null;
  previous_expires_at: Date | null;
}

export interface UserDocument {
  _id: ObjectId;
  email: string;
  name: string;
  password_hash: string;
  role: UserRole;
  created_at: Date;
  /** Made on first need (a generation with a webhook, or the secret asked for). */
  webhook_secret?: WebhookSecretDocument;
  /**
   * Tokens (and dashboard sessions) issued before this are revoked: set when the role or the
   * password changes, so that what the account held before opens nothing after.
   */
  tokens_valid_after?: Date;
  /**
   * Set when the account's deletion began (AccountDeleter): it is closed from then on, and a
   * deletion cut short is found by it and finished.
   */
  deleted_at?: Date;
}

export interface GenerationWebhook {
  url: string;
  events: WebhookEvent[];
}

export interface PastRunDocument {
  status: GenerationStatus;
  error: string | null;
  started_at: Date | null;
  ended_at: Date | null;
  retried_at: Date;
}

export interface GenerationDocument {
  _id: ObjectId;
  user_id: ObjectId;
  prompt: string;
  settings: GenerationSettings;
  status: GenerationStatus;
  error: string | null;
  cancel_reason: CancelReason | null;
  /** The request's `cancel_after`, kept so a retried run gets a deadline of its own. */
  cancel_after_ms: number | null;
  deadline_at: Date | null;
  attempts: number;
  /** The current run: 1, and one more at each retry. Jobs name their run; a stale one does nothing. */
  run: number;
  /**
   * One more at every change of status (GenerationStore), which claims the revision it moves the
   * record from. Absent on records written before revisions, which count as revision 0.
   */
  rev?: number;
  /** Which delivery of its run's job started the run (GenerationStore.start); absent before a start. */
  delivery?: number;
  /** Earlier runs, oldest first. */
  history: PastRunDocument[];
  /** The first image of the current run once completed (`images[0]`), as records had it before there were several. */
  image: ImageMeta | null;
  /** Every image once completed, in order; absent on records written before there were several (then `[image]`). */
  images?: ImageMeta[];
  /** Set when the retention sweep removed the image (RETENTION_IMAGES_DAYS); `image` keeps its metadata. */
  image_expired?: boolean;
  /** Who served the current run; absent on records written before providers were recorded. */
  provider?: ServingProvider | null;
  webhook: GenerationWebhook | null;
  created_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
  updated_at: Date;
}

export interface NewGeneration {
  id?: ObjectId;
  webhook?: GenerationWebhook | null;
  cancelAfterMs?: number | null;
}

/** A new `pending` generation as it is first written. */
export function newGeneration(
  userId: ObjectId,
  prompt: string,
  settings: GenerationSettings,
  { id = new ObjectId(), webhook = null, cancelAfterMs = null }: NewGeneration = {},
): GenerationDocument {
  const now = new Date();
  return {
    _id: id,
    user_id: userId,
    prompt,
    settings,
    status: 'pending',
    error: null,
    cancel_reason: null,
    cancel_after_ms: cancelAfterMs,
    deadline_at: cancelAfterMs ? new Date(now.getTime() + cancelAfterMs) : null,
    attempts: 0,
    run: 1,
    rev: 0,
    history: [],
    image: null,
    provider: null,
    webhook,
    created_at: now,
    started_at: null,
    completed_at: null,
    updated_at: now,
  };
}

/** Image bytes live apart from the generation, under the generation's id, so lists stay light. */
export interface ImageDocument extends ImageMeta {
  _id: ObjectId;
  user_id: ObjectId;
  data: Binary;
  created_at: Date;
}

/**
 * A generation's stored part other than its first image (see `ImagePart`): `_id` is the
 * generation's id and the part's suffix, so the first image's documents stay as they were.
 */
export interface ImagePartDocument extends Omit<ImageDocument, '_id'> {
  _id: string;
  generation_id: ObjectId;
}

/**
 * One webhook message: the exact body every attempt and redelivery sends, under one `webhook-id`
 * (the `_id`), so receivers can dedupe.
 */
export interface WebhookMessageDocument {
  _id: string;
  generation_id: ObjectId;
  user_id: ObjectId;
  type: WebhookType;
  url: string;
  body: string;
  state: WebhookMessageState;
  attempts: number;
  next_attempt_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** One HTTP attempt at delivering a message, as the delivery log shows it. */
export interface WebhookAttemptDocument {
  _id: ObjectId;
  message_id: string;
  generation_id: ObjectId;
  user_id: ObjectId;
  type: WebhookType;
  trigger: WebhookTrigger;
  url: string;
  attempted_at: Date;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  outcome: WebhookAttemptOutcome;
  next_retry_at: Date | null;
}

/** A create request's `Idempotency-Key`, per user, and the generation it made. */
export interface IdempotencyKeyDocument {
  /** The user's id and a hash of the key. */
  _id: string;
  user_id: ObjectId;
  /** A hash of the parsed request body: the same key with another body is refused. */
  request_hash: string;
  generation_id: ObjectId;
  created_at: Date;
}

/** One run of a generation as it counts for usage (`UsageLog`): `_id` is `<generation id>:<run>`. */
export interface UsageDocument {
  _id: string;
  user_id: ObjectId;
  generation_id: ObjectId;
  run: number;
  model: string;
  provider: ServingProvider | null;
  images: number;
  provider_ms: number;
  outcome: 'completed' | 'failed' | 'canceled';
  at: Date;
}

/** A key taken by one writer (see `Claims`), with what that writer kept in it. */
export interface ClaimDocument {
  _id: string;
  at: Date;
  data: Document;
  /** Who took it, when its writer said (`Claims.write`'s `by`). */
  by?: string;
}

/** True when a write failed because a unique index already holds its key. */
export function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === 11000;
}
