import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PNG } from 'pngjs';

/**
 * A PNG of noise, which does not compress: `width`×`height`×4 bytes of pixels make a file of about
 * that size (512×512 → about 1 MB), the size of a real Stable Diffusion answer.
 */
export function noisePng(width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < png.data.length; i++) png.data[i] = (Math.random() * 256) | 0;
  return PNG.sync.write(png, { filterType: 0, deflateLevel: 1 });
}

/** Hugging Face for the benchmark: every request gets `image` after `latencyMs`. */
export class HfStub {
  latencyMs = 0;
  requests = 0;
  private readonly server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.requests++;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': this.image.length });
        res.end(this.image);
      }, this.latencyMs);
    });
  });

  private constructor(public image: Buffer) {}

  static async start(image: Buffer): Promise<HfStub> {
    const stub = new HfStub(image);
    await new Promise<void>((resolve) => stub.server.listen(0, '127.0.0.1', resolve));
    return stub;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
