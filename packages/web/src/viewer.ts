import type { GeneratedImage, ImagegenClient } from '@imagegen/client';
import type { ShownGeneration } from './card';
import { ConfirmStep } from './confirm-step';
import { byId, h } from './dom';
import type { ImageCache } from './images';

/** What the viewer lists of a generation, by label; empty values are left out. */
const FIELDS: [string, (generation: ShownGeneration) => unknown][] = [
  ['Model', (g) => g.settings.model],
  // What the request asked for, when it did not leave the choice to the service.
  ['Provider asked', (g) => g.settings.provider],
  ['Served by', (g) => g.provider],
  ['Width', (g) => g.settings.width],
  ['Height', (g) => g.settings.height],
  ['Images', (g) => g.images.length],
  ['Style', (g) => g.settings.style],
  ['Negative prompt', (g) => g.settings.negative_prompt],
  ['Steps', (g) => g.settings.num_inference_steps],
  ['Guidance', (g) => g.settings.guidance_scale],
  ['Seed', (g) => g.settings.seed],
];

export interface ViewerActions {
  /** "Use these settings again". */
  reuse: (generation: ShownGeneration) => void;
  /** The generation was deleted, and the viewer closed. */
  deleted: (id: string) => void;
}

/** File name extensions of the image types a provider may send. */
const EXTENSIONS: Record<GeneratedImage['mime_type'], string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
};

/**
 * A generation full size (all its images, in a grid when there are several, each with its
 * download), with its prompt and settings, "use these settings again", and a delete that asks first.
 */
export class Viewer {
  private readonly dialog = byId<HTMLDialogElement>('viewer');
  private readonly shown = byId('viewer-images');
  private readonly error = h('p', { className: 'error', id: 'viewer-error' });
  private readonly remove: ConfirmStep;
  private current: ShownGeneration | undefined;

  constructor(
    private readonly client: ImagegenClient,
    private readonly images: ImageCache,
    actions: ViewerActions,
  ) {
    const close = byId('viewer-close');
    close.addEventListener('click', () => this.dialog.close());
    byId('viewer-reuse').addEventListener('click', () => {
      this.dialog.close();
      if (this.current) actions.reuse(this.current);
    });
    this.remove = new ConfirmStep(
      { action: 'Delete', question: 'Delete this image for good?', yes: 'Yes, delete', no: 'No, keep it' },
      () => this.delete(actions.deleted),
    );
    close.before(this.remove.element);
    this.error.setAttribute('role', 'alert');
    this.dialog.append(this.error);
    // Closed by Escape too: the next generation opens with a plain Delete button.
    this.dialog.addEventListener('close', () => this.remove.reset());
  }

  async open(generation: ShownGeneration): Promise<void> {
    this.current = generation;
    this.error.textContent = '';
    this.remove.reset();
    const figures = await Promise.all(generation.images.map((image) => this.figureOf(generation, image)));
    // Another generation was opened while these images came.
    if (this.current !== generation) return;
    this.shown.classList.toggle('several', figures.length > 1);
    this.shown.replaceChildren(...figures);
    byId('viewer-prompt').textContent = generation.prompt;
    byId('viewer-settings').replaceChildren(
      ...FIELDS.map(([label, read]) => [label, read(generation)] as const)
        .filter(([, value]) => value !== null && value !== undefined)
        .flatMap(([label, value]) => [h('dt', { textContent: label }), h('dd', { textContent: String(value) })]),
    );
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** One image full size with its download; or why it cannot be shown (expired, say). */
  private async figureOf(generation: ShownGeneration, image: GeneratedImage): Promise<HTMLElement> {
    const count = generation.images.length;
    const which = count > 1 ? ` ${image.index + 1} of ${count}` : '';
    try {
      const url = await this.images.url(generation.id, { index: image.index });
      const name = `imagegen-${generation.id}${count > 1 ? `-${image.index + 1}` : ''}.${EXTENSIONS[image.mime_type]}`;
      return h(
        'figure',
        {},
        h('img', { src: url, alt: count > 1 ? `${generation.prompt} (${which.trim()})` : generation.prompt }),
        h('a', { className: 'button', href: url, download: name, textContent: `Download${which}` }),
      );
    } catch (err) {
      return h('figure', {}, h('p', { className: 'error', textContent: `Image${which}: ${(err as Error).message}` }));
    }
  }

  /** Deletes the generation shown; on failure the viewer stays open with the API's reason. */
  private async delete(deleted: ViewerActions['deleted']): Promise<void> {
    const generation = this.current;
    if (!generation) return;
    try {
      await this.client.deleteGeneration(generation.id);
    } catch (err) {
      this.error.textContent = `Not deleted: ${(err as Error).message}`;
      return;
    }
    this.dialog.close();
    deleted(generation.id);
  }
}
