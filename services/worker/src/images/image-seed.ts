/** One more than the largest seed a request may carry (`CreateGenerationRequest`), as providers take seeds. */
const SEEDS = 2 ** 32;

/**
 * The seed of image `index` of a generation seeded with `seed`: `seed + index`, so the set is drawn
 * again the same by the same seed, wrapping past the largest seed. No seed: each image unseeded.
 */
export const imageSeed = (seed: number | null, index: number): number | null =>
  seed === null ? null : (seed + index) % SEEDS;
