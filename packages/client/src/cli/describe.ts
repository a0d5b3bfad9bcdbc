import type { Generation, ModelList } from '@imagegen/shared';

export function withoutImage({ image_url: _, ...rest }: Generation): Omit<Generation, 'image_url'> {
  return rest;
}

export function describeRecord(generation: Generation): string {
  const lines: [string, unknown][] = [
    ['id', generation.id],
    ['status', generation.status],
    ['prompt', generation.prompt],
    ['queue position', generation.queue_position],
    ['model', generation.settings.model],
    ['provider asked', generation.settings.provider],
    ['provider', generation.provider],
    ['error', generation.error],
    ['cancel reason', generation.cancel_reason],
    ['image', generation.image && `${generation.image.width}×${generation.image.height} ${generation.image.mime_type}`],
    ['created', generation.created_at],
    ['started', generation.started_at],
    ['completed', generation.completed_at],
  ];
  return lines
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([label, value]) => `${`${label}:`.padEnd(16)}${String(value)}\n`)
    .join('');
}

export function describeModels(list: ModelList): string {
  if (list.items.length === 0) return 'No models are offered\n';
  return list.items
    .map((model) => {
      const head = `${model.id}${model.default ? '  (default)' : ''}\n`;
      if (model.providers.length === 0) return `${head}    no provider serves it for text-to-image now\n`;
      const width = Math.max(...model.providers.map((p) => p.provider.length));
      const rows = model.providers.map(
        (p) => `    ${p.provider.padEnd(width)}  ${p.provider_id}${p.status === 'staging' ? '  (staging)' : ''}\n`,
      );
      return head + rows.join('');
    })
    .join('');
}

export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
