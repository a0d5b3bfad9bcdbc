import type { GenerationEvent } from '@imagegen/shared';
import { describeEvent } from '../progress';

/** Where progress goes: a terminal gets one line redrawn in place, anything else a line per change. */
export interface ProgressOutput {
  write(text: string): void;
  isTTY?: boolean;
}

/** The live progress line of `imagegen generate`: the latest state and the time since the start. */
export class ProgressLine {
  private text = 'creating';
  private readonly started = Date.now();
  private readonly ticker: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: ProgressOutput,
    private readonly describe: (event: GenerationEvent) => string = describeEvent,
  ) {
    // A terminal's line is redrawn each second so the clock moves during a long wait.
    if (out.isTTY) this.ticker = setInterval(() => this.draw(), 1000).unref();
  }

  update(event: GenerationEvent): void {
    const text = this.describe(event);
    if (text === this.text) return;
    this.text = text;
    if (this.out.isTTY) this.draw();
    else this.out.write(`${text}\n`);
  }

  /** Leaves the terminal on a clean line. */
  end(): void {
    clearInterval(this.ticker);
    if (this.out.isTTY) {
      this.draw();
      this.out.write('\n');
    }
  }

  private draw(): void {
    const seconds = Math.floor((Date.now() - this.started) / 1000);
    this.out.write(`\r\x1b[2K${this.text} (${seconds} s)`);
  }
}
