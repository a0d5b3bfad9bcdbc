/** A scrape of a `/metrics` endpoint, in Prometheus's text format. */
export class Scrape {
  private constructor(readonly text: string) {}

  static async of(url: string): Promise<Scrape> {
    const res = await fetch(url);
    if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
    if (!res.headers.get('content-type')?.startsWith('text/plain')) {
      throw new Error(`${url}: content-type ${res.headers.get('content-type')}`);
    }
    return new Scrape(await res.text());
  }

  /** The value of the one series of `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
    const matches = this.text.split('\n').filter((line) => {
      const [series] = line.split(' ', 1);
      if (series !== name && !series?.startsWith(`${name}{`)) return false;
      const inside = series.slice(name.length + 1, -1).split(',');
      return wanted.every((pair) => inside.includes(pair));
    });
    if (matches.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${matches.length} series match`);
    return matches[0] === undefined ? undefined : Number(matches[0].slice(matches[0].lastIndexOf(' ') + 1));
  }
}
