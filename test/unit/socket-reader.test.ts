/**
 * The one socket reader (net/socketReader.ts) on real loopback sockets: an answer in any number
 * of pieces, the bytes beyond it put back for the next reader in order, the end before the
 * answer, a decision that fails, and exact reads.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test, TestContext } from 'node:test';
import { readExactly, readUntil, SocketEndedError } from '../../src/core/net/socketReader';

/** A connected pair: what the test writes on `server` arrives on `client`. */
async function pair(t: TestContext): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
  const client = net.connect({ host: '127.0.0.1', port: (listener.address() as net.AddressInfo).port });
  const server = await accepted;
  listener.close();
  for (const s of [client, server]) s.on('error', () => undefined);
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

const line = (b: Buffer) => {
  const i = b.indexOf('\n');
  return i < 0 ? undefined : { value: b.subarray(0, i).toString(), consumed: i + 1 };
};

test('an answer in pieces is decided once complete; what follows is put back, in order', async (t) => {
  const { client, server } = await pair(t);
  const reading = readUntil(client, line);
  const firstPiece = new Promise((r) => client.once('data', r));
  server.write('hel');
  await firstPiece; // the reader has seen 'hel' alone; the rest comes in a later read
  server.write('lo\nworld');
  assert.equal(await reading, 'hello');
  assert.equal(client.isPaused(), true, 'left paused for the next reader');
  assert.equal((await readExactly(client, 5)).toString(), 'world');
});

test('the end before the answer: onEnd decides, else a SocketEndedError with what was read', async (t) => {
  const a = await pair(t);
  const withOnEnd = readUntil(a.client, line, { onEnd: (b) => `partial:${b.toString()}` });
  a.server.end('no newline');
  assert.equal(await withOnEnd, 'partial:no newline');

  const b = await pair(t);
  const without = readUntil(b.client, line);
  b.server.end('cut');
  await assert.rejects(without, (e: unknown) => e instanceof SocketEndedError && e.buffered.toString() === 'cut');
});

test('a decision that throws rejects the read with its error', async (t) => {
  const { client, server } = await pair(t);
  const reading = readUntil(client, (b) => {
    if (b[0] !== 0x48) throw new Error(`not HTTP: ${b[0]}`);
    return undefined;
  });
  server.write(Buffer.from([0x16, 0x03]));
  await assert.rejects(reading, /not HTTP: 22/);
});

test('readExactly resolves exactly n bytes, or what came before the end', async (t) => {
  const { client, server } = await pair(t);
  server.write('abcdefgh');
  assert.equal((await readExactly(client, 3)).toString(), 'abc');
  assert.equal((await readExactly(client, 5)).toString(), 'defgh');
  const last = readExactly(client, 4);
  server.end('xy');
  assert.equal((await last).toString(), 'xy');
});
