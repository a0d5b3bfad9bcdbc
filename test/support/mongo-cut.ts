import type { TcpProxy } from './tcp-proxy';

/** The same database as `uri`, reached through `proxy`. */
export function throughProxy(uri: string, proxy: TcpProxy): string {
  const url = new URL(uri);
  url.host = `127.0.0.1:${proxy.port}`;
  url.searchParams.set('directConnection', 'true');
  return url.toString();
}

/**
 * The bytes of a BSON string field, as a MongoDB command whose document holds `{[name]: value}`
 * carries them: what `TcpProxy.cutAfterAnswerTo` looks for to cut at one write.
 */
export function bsonString(name: string, value: string): Buffer {
  const length = Buffer.alloc(4);
  length.writeInt32LE(Buffer.byteLength(value) + 1);
  return Buffer.concat([Buffer.from([0x02]), Buffer.from(`${name}\0`), length, Buffer.from(`${value}\0`)]);
}

/** The bytes that open a BSON embedded document named `name`, such as an update's `$set`. */
export function bsonDocument(name: string): Buffer {
  return Buffer.concat([Buffer.from([0x03]), Buffer.from(`${name}\0`)]);
}

/** The bytes of a BSON ObjectId field, as a command whose document holds `{[name]: ObjectId(hex)}` carries them. */
export function bsonObjectId(name: string, hex: string): Buffer {
  return Buffer.concat([Buffer.from([0x07]), Buffer.from(`${name}\0`), Buffer.from(hex, 'hex')]);
}
