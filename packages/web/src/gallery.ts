import type { Generation, GenerationSummary, ImagegenClient } from '@imagegen/client';
import { GenerationCard, type CardDeps } from './card';
import { byId } from './dom';
import type { ImageCache } from './images';

/** Cards per page of the cursor API. */
const PAGE_SIZE = 12;

/**
 * The user's generations, newest first: a page at first, the next one whenever the end of the list
 * comes near the screen (or "Load more" is pressed), and new generations on top.
 */
export class Gallery {
  private readonly list = byId<HTMLOListElement>('gallery');
  private readonly empty = byId('gallery-empty');
  private readonly more = byId<HTMLButtonElement>('load-more');
  private readonly cards = new Map<string, GenerationCard>();
  private readonly deps: CardDeps;
  private cursor: string | null | undefined;
  private loading: Promise<void> | undefined;
  private readonly nearEnd: IntersectionObserver;
  private readonly end = byId('gallery-end');

  constructor(
    private readonly client: ImagegenClient,
    images: ImageCache,
    actions: Pick<CardDeps, 'open' | 'ended'>,
  ) {
    const visibility = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          visibility.unobserve(entry.target);
          this.cards.get((entry.target as HTMLElement).dataset.id ?? '')?.loadImage();
        }
      },
      { rootMargin: '200px' },
    );
    this.deps = { client, images, visibility, ...actions };
    this.nearEnd = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void this.loadMore();
    });
    this.more.addEventListener('click', () => void this.loadMore());
  }

  async start(): Promise<void> {
    this.nearEnd.observe(this.end);
    await this.loadMore();
  }

  /** A generation just created, on top. */
  add(generation: Generation): void {
    this.list.prepend(this.cardOf(generation).element);
    this.empty.hidden = true;
  }

  /**
   * Takes a deleted generation's card out. Focus, which the closed viewer gave back to the card,
   * moves on to the card after it (or before it), so that the keyboard keeps its place.
   */
  remove(id: string): void {
    const card = this.cards.get(id);
    if (!card) return;
    const { element } = card;
    this.cards.delete(id);
    this.deps.visibility.unobserve(element);
    this.deps.images.forget(id);
    const neighbour = (element.nextElementSibling ?? element.previousElementSibling) as HTMLElement | null;
    const hadFocus = element.contains(document.activeElement);
    element.remove();
    if (hadFocus) neighbour?.querySelector<HTMLElement>('button:not(:disabled):not([hidden])')?.focus();
    this.empty.hidden = this.cards.size > 0;
  }

  /**
   * The next page, unless one is loading or there is none; and the ones after it while the end of
   * the list is still on the screen. Its observer speaks only when that changes, so a page that
   * left the end in view (a tall screen, or the end came near while a page was on its way) would
   * otherwise be the last one loaded until the user scrolled away and back. The end's place is
   * read from the layout once the page's cards are in: the observer would say it only later. A
   * page that fails is not asked for again until the end comes near again or "Load more" is pressed.
   */
  loadMore(): Promise<void> {
    if (this.cursor === null) return Promise.resolve();
    this.loading ??= this.client
      .listGenerations({ limit: PAGE_SIZE, ...(this.cursor && { cursor: this.cursor }) })
      .then((page) => {
        // A generation added on top since the first page is not shown twice.
        for (const generation of page.items) {
          if (!this.cards.has(generation.id)) this.list.append(this.cardOf(generation).element);
        }
        this.cursor = page.next_cursor;
        this.more.hidden = page.next_cursor === null;
        this.empty.hidden = this.cards.size > 0;
      })
      .finally(() => (this.loading = undefined))
      .then(() => (this.endOnScreen() ? this.loadMore() : undefined));
    return this.loading;
  }

  /** Whether the end of the list is shown and within the screen (as its observer would say). */
  private endOnScreen(): boolean {
    if (this.end.getClientRects().length === 0) return false;
    const { top, bottom } = this.end.getBoundingClientRect();
    return top <= window.innerHeight && bottom >= 0;
  }

  private cardOf(generation: GenerationSummary | Generation): GenerationCard {
    const card = new GenerationCard(generation, this.deps);
    this.cards.set(generation.id, card);
    return card;
  }

  stop(): void {
    this.nearEnd.disconnect();
    this.deps.visibility.disconnect();
  }
}
