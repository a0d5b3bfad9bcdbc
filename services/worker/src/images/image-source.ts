import type { GenerationSettings, ServingProvider } from '@imagegen/shared';
import type { SniffedImage } from './sniff';

export interface RenderRequest {
  /** The prompt as the model should see it (style words included). */
  prompt: string;
  settings: GenerationSettings;
}

/** A notice that the source is waiting before trying again (a cold start, a rate limit, ...). */
export interface RetryNotice {
  retry: number;
  delayMs: number;
  detail: string;
}

export interface RenderOptions {
  signal: AbortSignal;
  onRetry?: (notice: RetryNotice) => void;
}

/** The image, and who drew it. */
export interface RenderedImage extends SniffedImage {
  provider: ServingProvider;
}

/** Something that turns a prompt into image bytes: Hugging Face, OpenAI, or the local renderer. */
export interface ImageSource {
  readonly description: string;
  render(request: RenderRequest, options: RenderOptions): Promise<RenderedImage>;
  close(): Promise<void>;
}
