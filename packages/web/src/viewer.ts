import type { GenerationSettings, GenerationSummary } from '@imagegen/client';
import { byId, h } from './dom';
import type { ImageCache } from './images';

/** Labels of the settings the viewer lists. */
const LABELS: [keyof GenerationSettings, string][] = [
  ['model', 'Model'],
  ['width', 'Width'],
  ['height', 'Height'],
  ['style', 'Style'],
  ['negative_prompt', 'Negative prompt'],
  ['num_inference_steps', 'Steps'],
  ['guidance_scale', 'Guidance'],
  ['seed', 'Seed'],
];

/** A generation full size, with its prompt and settings, a download, and "use these settings again". */
export class Viewer {
  private readonly dialog = byId<HTMLDialogElement>('viewer');
  private readonly image = byId<HTMLImageElement>('viewer-image');
  private readonly download = byId<HTMLAnchorElement>('viewer-download');
  private current: GenerationSummary | undefined;

  constructor(
    private readonly images: ImageCache,
    reuse: (generation: GenerationSummary) => void,
  ) {
    byId('viewer-close').addEventListener('click', () => this.dialog.close());
    byId('viewer-reuse').addEventListener('click', () => {
      this.dialog.close();
      if (this.current) reuse(this.current);
    });
  }

  async open(generation: GenerationSummary): Promise<void> {
    this.current = generation;
    const url = await this.images.url(generation.id);
    this.image.src = url;
    this.image.alt = generation.prompt;
    this.download.href = url;
    this.download.download = `imagegen-${generation.id}.${generation.image?.mime_type === 'image/jpeg' ? 'jpg' : 'png'}`;
    byId('viewer-prompt').textContent = generation.prompt;
    byId('viewer-settings').replaceChildren(
      ...LABELS.filter(([key]) => generation.settings[key] !== null).flatMap(([key, label]) => [
        h('dt', { textContent: label }),
        h('dd', { textContent: String(generation.settings[key]) }),
      ]),
    );
    this.dialog.showModal();
  }
}
