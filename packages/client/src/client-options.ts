import type {
  CreateGenerationRequest,
  DeleteAccountRequest,
  GenerationEvent,
  GenerationStatus,
  ImageFormat,
  LoginRequest,
  RegisterRequest,
  ThumbnailWidth,
} from '@imagegen/shared';
import type { z } from 'zod';
import type { TransportOptions } from './transport';

/** What `POST /api/generations` takes, before the API's defaults are applied. */
export type CreateGenerationInput = z.input<typeof CreateGenerationRequest>;
export type LoginInput = z.input<typeof LoginRequest>;
export type RegisterInput = z.input<typeof RegisterRequest>;
export type DeleteAccountInput = z.input<typeof DeleteAccountRequest>;

export type ClientOptions = TransportOptions;

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface RecordOptions extends CallOptions {
  /**
   * The record without its images' bytes (`Prefer: return=minimal`): `image_url` is null, and
   * `urls.image`, `images[].url` and `getImage()` fetch the images. For polling, or for showing thumbnails.
   */
  minimal?: boolean;
}

export interface CreateOptions extends RecordOptions {
  /**
   * Makes the create safe to send again: the API answers a repeat with the first generation. One
   * is made when none is given, so that a create lost on the wire is retried without a duplicate.
   */
  idempotencyKey?: string;
  /** Hold the answer up to this many seconds (≤ 60) for the generation to end (`Prefer: wait`). */
  waitSeconds?: number;
}

export interface WaitOptions extends RecordOptions {
  /** Each status change and notice ("model loading, retrying in 18 s"), as the stream carries them. */
  onEvent?: (event: GenerationEvent) => void;
  /** `auto` (the default): the live stream, and polling when it cannot be had. */
  via?: 'auto' | 'sse' | 'poll';
  /** The first wait between polls, growing to 5 s. Default 1 s. */
  pollIntervalMs?: number;
}

export interface GenerateOptions extends WaitOptions {
  idempotencyKey?: string;
  /** Cancel the generation when `signal` aborts (default true), so it stops using a worker. */
  cancelOnAbort?: boolean;
}

export interface ImageOptions extends CallOptions {
  /** Which of the generation's images (0 is the first); the first when left out. */
  index?: number;
  /** A thumbnail at most this wide (WebP unless `format` says otherwise) instead of the full-size image. */
  width?: ThumbnailWidth;
  /** Converted to this format; left out, the bytes are exactly what the provider sent. */
  format?: ImageFormat;
}

export interface UsageOptions extends CallOptions {
  /** The first UTC day, `YYYY-MM-DD`. */
  from?: string;
  /** The last UTC day, `YYYY-MM-DD`. */
  to?: string;
}

export interface ListOptions extends CallOptions {
  limit?: number;
  cursor?: string;
  status?: GenerationStatus;
}

/** One event of a generation's live stream; `id` is what a reconnect resumes from. */
export interface StreamedEvent {
  id: string | undefined;
  event: GenerationEvent;
}
