/** The widths a thumbnail is made at (`?width=`): a fixed few, so each is made and stored once per image. */
export const THUMBNAIL_WIDTHS = [128, 256, 512] as const;
export type ThumbnailWidth = (typeof THUMBNAIL_WIDTHS)[number];

/** The formats an image can be asked in (`?format=`), and what each is served as. */
export const IMAGE_FORMATS = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;
export type ImageFormat = keyof typeof IMAGE_FORMATS;
