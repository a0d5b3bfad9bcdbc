import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from '@imagegen/devstack';

/**
 * A TCP proxy on 127.0.0.1 in front of a server, to take that server off the network and bring it
 * back without touching it: `cut` drops every connection and closes the port (new connections are
 * refused), `restore` listens again on the same port. `cutAfterAnswerTo` cuts at one chosen moment;
 * `holdAnswerTo` holds one chosen answer back until the test lets it through.
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /**
   * Sprung by the answer to the next message holding every marker: given `hold`, which holds that
   * answer and the ones after it on its connection back until the function it returns is called.
   */
  private trap: { markers: Buffer[]; spring: (hold: () => () => void) => void } | undefined;

  private constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(await freePort(), target);
    await proxy.restore();
    return proxy;
  }

  async restore(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      let trapped = false;
      // Answers held back on this connection, in order, once a hold sprang here.
      let holding: Array<() => void> | undefined;
      // Each way by hand rather than pipe(), to look at what the client sends and hold back what
      // the server answers; a side that cannot take more pauses the other, as pipe() would.
      const forward = (from: Socket, to: Socket, chunk: Buffer) => {
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      };
      client.on('data', (chunk: Buffer) => {
        if (this.trap?.markers.every((marker) => chunk.includes(marker))) trapped = true;
        forward(client, upstream, chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        const answer = () => forward(upstream, client, chunk);
        if (holding) return void holding.push(answer);
        const trap = this.trap;
        if (!trapped || !trap) return answer();
        this.trap = undefined;
        trapped = false;
        trap.spring(() => {
          holding = [answer];
          return () => {
            const held = holding ?? [];
            holding = undefined;
            for (const next of held) next();
          };
        });
      });
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', resolve);
    });
    this.server = server;
  }

  /**
   * Cuts (as `cut` does) at the first answer the server gives on a connection whose client sent
   * bytes holding every one of `markers`, before the client reads it: the server did what it was
   * asked, and the client never hears so. Resolves once cut; rejects, disarmed, if no such
   * message came within `timeoutMs` (one message is looked for in one read, as small ones come).
   */
  cutAfterAnswerTo(markers: Buffer[], timeoutMs = 15_000): Promise<void> {
    return this.arm(markers, timeoutMs, () => this.cut());
  }

  /**
   * Holds back the first answer the server gives on a connection whose client sent bytes holding
   * every one of `markers`, and the answers after it on that connection: the server did what it
   * was asked, and the client waits to hear so. Resolves once holding, with the function that lets
   * them through; rejects, disarmed, as `cutAfterAnswerTo` does.
   */
  holdAnswerTo(markers: Buffer[], timeoutMs = 15_000): Promise<() => void> {
    let release: () => void = () => undefined;
    return this.arm(markers, timeoutMs, async (hold) => {
      release = hold();
    }).then(() => release);
  }

  private arm(markers: Buffer[], timeoutMs: number, act: (hold: () => () => void) => Promise<void>): Promise<void> {
    if (this.trap) throw new Error('a trap is armed already');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.trap = undefined;
        reject(new Error(`no message holding the ${markers.length} markers was answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.trap = {
        markers,
        spring: (hold) => {
          clearTimeout(timer);
          void act(hold).then(resolve, reject);
        },
      };
    });
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  close(): Promise<void> {
    return this.cut();
  }
}
