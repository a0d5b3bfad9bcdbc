import {
  describeEvent,
  GenerationError,
  type Generation,
  type GenerationEvent,
  type GenerationSummary,
  type ImagegenClient,
} from '@imagegen/client';
import { isTerminal } from '@imagegen/shared';
import { h } from './dom';
import { thumbnailWidth, type ImageCache } from './images';

/** A generation as a card shows it: a stream's status events carry it without its `history`. */
export type ShownGeneration = Omit<GenerationSummary, 'history'>;

export interface CardDeps {
  client: ImagegenClient;
  images: ImageCache;
  /** Shows the generation full size. */
  open: (generation: ShownGeneration) => void;
  /** Images load only once their card is near the screen. */
  visibility: IntersectionObserver;
  /** A generation the card followed has ended (what it used of the quota is known). */
  ended: () => void;
}

/**
 * One generation in the gallery: its prompt, its live state while it runs (from the event
 * stream), its images once done (as thumbnails, several in a grid), and the cancel and retry
 * buttons its state allows.
 */
export class GenerationCard {
  readonly element: HTMLLIElement;
  private generation: ShownGeneration;
  private readonly state = h('p', { className: 'state' });
  /** Who served it, once a provider has been chosen. */
  private readonly served = h('p', { className: 'served' });
  private readonly figure = h('button', { type: 'button', className: 'thumb' });
  private readonly cancel = h('button', { type: 'button', className: 'secondary', textContent: 'Cancel' });
  private readonly retry = h('button', { type: 'button', className: 'secondary', textContent: 'Retry' });
  private following = false;

  /** `generation`: a listed summary, or the full record a create answered. */
  constructor(
    generation: GenerationSummary | Generation,
    private readonly deps: CardDeps,
  ) {
    this.generation = generation;
    this.state.setAttribute('role', 'status');
    this.element = h(
      'li',
      { className: 'card' },
      this.figure,
      h('p', { className: 'prompt', textContent: generation.prompt }),
      this.state,
      this.served,
      h('div', { className: 'actions' }, this.cancel, this.retry),
    );
    this.element.dataset.id = generation.id;
    this.figure.setAttribute('aria-label', `Open “${generation.prompt}” full size`);
    this.figure.addEventListener('click', () => deps.open(this.generation));
    this.cancel.addEventListener('click', () => void this.act(() => deps.client.cancelGeneration(this.generation.id)));
    this.retry.addEventListener('click', () => {
      void this.act(() => deps.client.retryGeneration(this.generation.id)).then((retried) => {
        if (retried) this.follow(retried);
      });
    });
    this.show({ type: 'status', status: generation.status, generation });
    if (!isTerminal(generation.status)) this.follow('image_url' in generation ? generation : undefined);
  }

  /**
   * Follows the live state until the generation ends (once at a time); on from `record` when the
   * card has just been given it, so that a quick run's states all show.
   */
  follow(record?: Generation): void {
    if (this.following) return;
    this.following = true;
    this.deps.client
      // Minimal: the card draws thumbnails, so the final record need not carry the image's bytes.
      .waitFor(record ?? this.generation.id, { onEvent: (event) => this.show(event), minimal: true })
      .then(
        (done: Generation) => {
          this.show({ type: 'status', status: done.status, generation: done });
          this.deps.ended();
        },
        (err: unknown) => {
          if (!(err instanceof GenerationError)) {
            this.state.textContent = `lost track of it: ${(err as Error).message}`;
            return;
          }
          this.show({ type: 'status', status: err.generation.status, generation: err.generation });
          this.deps.ended();
        },
      )
      .finally(() => (this.following = false));
  }

  /**
   * The images, fetched once the card is on screen: thumbnails as wide as their place in the card
   * needs (a grid of two columns for several), never the full-size bytes.
   */
  loadImage(): void {
    const { id, images, prompt, status } = this.generation;
    if (status !== 'completed' || this.figure.querySelector('img')) return;
    const several = images.length > 1;
    const width = thumbnailWidth(this.figure.clientWidth / (several ? 2 : 1));
    this.figure.classList.toggle('several', several);
    this.figure.replaceChildren(
      ...images.map((image) => {
        const img = h('img', {
          alt: several ? `${prompt} (${image.index + 1} of ${images.length})` : prompt,
          width: image.width,
          height: image.height,
        });
        this.deps.images.url(id, { index: image.index, width }).then(
          (url) => (img.src = url),
          () => img.replaceWith(h('span', { textContent: 'image unavailable' })),
        );
        return img;
      }),
    );
  }

  private show(event: GenerationEvent): void {
    if (event.type === 'status') {
      this.generation = event.generation;
      this.element.dataset.status = event.status;
    }
    const { status } = this.generation;
    this.state.textContent = describeEvent(event);
    const { provider } = this.generation;
    this.served.hidden = !provider;
    // Until it is done, the provider is the one trying (or the one that failed).
    this.served.textContent = !provider
      ? ''
      : status === 'completed'
        ? `served by ${provider}`
        : `provider: ${provider}`;
    this.cancel.hidden = isTerminal(status);
    this.retry.hidden = status !== 'failed' && status !== 'canceled';
    this.figure.disabled = status !== 'completed';
    if (status === 'completed') this.deps.visibility.observe(this.element);
    else {
      this.figure.classList.remove('several');
      this.figure.replaceChildren(h('span', { className: 'placeholder', textContent: status }));
    }
  }

  private async act(action: () => Promise<Generation>): Promise<Generation | null> {
    try {
      const generation = await action();
      this.show({ type: 'status', status: generation.status, generation });
      return generation;
    } catch (err) {
      this.state.textContent = (err as Error).message;
      return null;
    }
  }
}
