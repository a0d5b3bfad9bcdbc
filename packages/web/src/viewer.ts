import type { ImagegenClient } from '@imagegen/client';
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

/**
 * A generation full size, with its prompt and settings, a download, "use these settings again",
 * and a delete that asks first.
 */
export class Viewer {
  private readonly dialog = byId<HTMLDialogElement>('viewer');
  private readonly image = byId<HTMLImageElement>('viewer-image');
  private readonly download = byId<HTMLAnchorElement>('viewer-download');
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
    const url = await this.images.url(generation.id);
    this.image.src = url;
    this.image.alt = generation.prompt;
    this.download.href = url;
    this.download.download = `imagegen-${generation.id}.${generation.image?.mime_type === 'image/jpeg' ? 'jpg' : 'png'}`;
    byId('viewer-prompt').textContent = generation.prompt;
    byId('viewer-settings').replaceChildren(
      ...FIELDS.map(([label, read]) => [label, read(generation)] as const)
        .filter(([, value]) => value !== null && value !== undefined)
        .flatMap(([label, value]) => [h('dt', { textContent: label }), h('dd', { textContent: String(value) })]),
    );
    this.dialog.showModal();
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
