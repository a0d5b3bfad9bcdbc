import type { CreateGenerationInput, FieldError, GenerationSettings, ModelList } from '@imagegen/client';
import { imagesAsked, MAX_IMAGES, STYLE_NAMES } from '@imagegen/shared';
import { byId, h } from './dom';
import { ModelChoice } from './model-choice';

/** Example prompts, one click away, for a first try without having to think of one. */
const EXAMPLES = [
  'A beautiful sunset over mountains, vibrant colors',
  'A cute cat sitting on a windowsill',
  'A futuristic cityscape at night',
  'A cozy coffee shop interior, warm lighting, plants, wooden furniture, photorealistic',
  'A cute robot character with big eyes, colorful, digital art, trending on artstation',
  'A fantasy forest with glowing mushrooms, magical atmosphere, detailed',
];

const SIZES = [256, 384, 512, 640, 768, 896, 1024];
const NUMBERS = ['num_inference_steps', 'guidance_scale', 'seed'] as const;

/** The prompt box and its settings, read into the body of `POST /api/generations`. */
export class GenerateForm {
  readonly form = byId<HTMLFormElement>('generate-form');
  private readonly error = byId('generate-error');
  private readonly models = new ModelChoice(this.select('model'), this.select('provider'));

  constructor(onSubmit: (request: CreateGenerationInput) => Promise<void>) {
    for (const name of ['width', 'height']) {
      this.select(name).append(...SIZES.map((size) => h('option', { value: String(size), textContent: `${size} px` })));
      this.select(name).value = '512';
    }
    this.select('num_images').append(
      ...Array.from({ length: MAX_IMAGES }, (_, i) =>
        h('option', { value: String(i + 1), textContent: String(i + 1) }),
      ),
    );
    this.select('style').append(
      h('option', { value: '', textContent: 'none' }),
      ...STYLE_NAMES.map((style) => h('option', { value: style, textContent: style })),
    );
    byId('examples').append(
      ...EXAMPLES.map((prompt) => {
        const button = h('button', { type: 'button', className: 'chip', textContent: prompt });
        button.addEventListener('click', () => this.fill({ prompt }));
        return button;
      }),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.showErrors([]);
      const submit = this.form.querySelector<HTMLButtonElement>('button[type=submit]');
      if (submit) submit.disabled = true;
      onSubmit(this.read()).finally(() => {
        if (submit) submit.disabled = false;
      });
    });
  }

  /** What the form asks for; empty fields are left out, so the API's defaults apply. */
  read(): CreateGenerationInput {
    const data = new FormData(this.form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const request: Record<string, unknown> = {
      prompt: text('prompt'),
      width: Number(text('width')),
      height: Number(text('height')),
      num_images: Number(text('num_images')),
      style: text('style') || null,
    };
    if (text('model')) request.model = text('model');
    // "auto" leaves the choice to the service.
    if (text('provider')) request.provider = text('provider');
    if (text('negative_prompt')) request.negative_prompt = text('negative_prompt');
    for (const name of NUMBERS) if (text(name) !== '') request[name] = Number(text(name));
    return request as CreateGenerationInput;
  }

  /** Puts a prompt, and optionally a generation's settings, back in the form. */
  fill(values: { prompt: string; settings?: GenerationSettings }): void {
    this.field('prompt').value = values.prompt;
    const { settings } = values;
    if (settings) {
      this.select('width').value = String(settings.width);
      this.select('height').value = String(settings.height);
      this.select('num_images').value = String(imagesAsked(settings));
      this.select('style').value = settings.style ?? '';
      this.models.select(settings.model, settings.provider);
      this.field('negative_prompt').value = settings.negative_prompt ?? '';
      for (const name of NUMBERS) this.field(name).value = settings[name] === null ? '' : String(settings[name]);
      this.form.querySelector('details')?.setAttribute('open', '');
    }
    this.field('prompt').focus();
  }

  /** The models of `GET /api/models` (none: it could not be had, and the API's default is used). */
  offerModels(list: ModelList): void {
    this.models.offer(list);
  }

  /** The API's refusal, next to the fields at fault. */
  showErrors(errors: FieldError[], message = ''): void {
    for (const element of this.form.querySelectorAll('[aria-invalid]')) element.removeAttribute('aria-invalid');
    for (const { field } of errors) this.markInvalid(field);
    this.error.textContent = [message, ...errors.map((e) => `${e.field}: ${e.message}`)].filter(Boolean).join(' · ');
  }

  private markInvalid(name: string): void {
    const element = this.form.elements.namedItem(name);
    if (element instanceof HTMLElement) element.setAttribute('aria-invalid', 'true');
  }

  private field(name: string): HTMLInputElement | HTMLTextAreaElement {
    return this.form.elements.namedItem(name) as HTMLInputElement;
  }

  private select(name: string): HTMLSelectElement {
    return this.form.elements.namedItem(name) as HTMLSelectElement;
  }
}
