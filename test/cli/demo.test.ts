/**
 * `npm run demo`, the README's first command: the built dist/demo.js in a child process must make
 * its PKI, carry bytes through a real tunnel to a real mTLS server, pass the doctor, explain the
 * refused certificate in a sentence, and exit 0.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { runScript } from '../support/cliProcess';

const DEMO = path.resolve('dist/demo.js');

const runDemo = () => runScript(DEMO, [], { env: { ...process.env, NO_COLOR: '1' }, timeoutMs: 60_000 });

describe('npm run demo', () => {
  it('runs every step and exits 0', { timeout: 90_000 }, async () => {
    const { code, stdout, stderr } = await runDemo();
    const out = stdout + stderr;
    assert.equal(code, 0, out);
    assert.match(out, /demo listening on 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(tls\)/);
    assert.match(out, /6 concurrent plain-TCP clients sent [\d.]+ MiB and got every byte back \(SHA-256 match\)/);
    assert.match(out, /Verdict: OK, the tunnel would work\./);
    assert.match(out, /does not trust: traffic refused/);
    assert.match(out, /Tunnel "demo-rogue": the server closed the connection right after the TLS handshake/);
    assert.match(out, /Matches:\s+certificate 1 of .*client\.crt/);
    assert.match(out, /Demo finished/);
  });
});
