import type { ShownGeneration } from './card';
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

/** A generation full size, with its prompt and settings, a download, and "use these settings again". */
export class Viewer {
  private readonly dialog = byId<HTMLDialogElement>('viewer');
  private readonly image = byId<HTMLImageElement>('viewer-image');
  private readonly download = byId<HTMLAnchorElement>('viewer-download');
  private current: ShownGeneration | undefined;

  constructor(
    private readonly images: ImageCache,
    reuse: (generation: ShownGeneration) => void,
  ) {
    byId('viewer-close').addEventListener('click', () => this.dialog.close());
    byId('viewer-reuse').addEventListener('click', () => {
      this.dialog.close();
      if (this.current) reuse(this.current);
    });
  }

  async open(generation: ShownGeneration): Promise<void> {
    this.current = generation;
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
}
