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
  /** Aborts every request of the render (a cancel, a stopping worker). */
  signal: AbortSignal;
  onRetry?: (notice: RetryNotice) => void;
  /** Told of each provider as it is asked, so a render that ends without images still says whom it waited on. */
  onProvider?: (provider: ServingProvider) => void;
}

/** A generation's images, in order (as many as `settings.num_images` asks), and who drew them all. */
export interface RenderedImages {
  provider: ServingProvider;
  images: SniffedImage[];
}

/**
 * Something that turns a prompt into image bytes: Hugging Face, OpenAI, or the local renderer. A
 * render gives every image the settings ask for, or fails: never some of them.
 */
export interface ImageSource {
  readonly description: string;
  render(request: RenderRequest, options: RenderOptions): Promise<RenderedImages>;
  close(): Promise<void>;
}
