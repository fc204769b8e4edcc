/**
 * The pieces of identityCommand that are plain functions: the settings (with their JSON paths),
 * how the command line reaches the shell on each platform, what its output means, and the
 * clock-jump detector (fed clocks, since a test cannot suspend the machine).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRenewBefore, renewalLead } from '../../src/core/config/renewal';
import { parseTunnels } from '../../src/core/config/parse';
import { exportTunnel } from '../../src/core/export';
import { ClockJumpWatcher } from '../../src/core/tls/clockJump';
import { identityFromOutput, shellInvocation } from '../../src/core/tls/identityCommand';
import { CertificateAuthority } from '../../src/core/pki/authority';
import { IdentityStatus } from '../../src/core/tls/renewal';
import { renewalWords } from '../../src/core/tls/renewalWords';

const base = { name: 'db', listen: 15432, target: 'db.internal:5432', cert: '/c/me.crt', key: '/c/me.key' };

describe('identityCommand and renewBefore settings', () => {
  it('are read into the tunnel, the command as written', () => {
    const { tunnels, errors } = parseTunnels([{ ...base, identityCommand: 'step ca renew --force "$MTLS_CERT_FILE" "$MTLS_KEY_FILE"', renewBefore: '20m' }]);
    assert.deepEqual(errors, []);
    assert.equal(tunnels[0].identityCommand, 'step ca renew --force "$MTLS_CERT_FILE" "$MTLS_KEY_FILE"');
    assert.deepEqual(tunnels[0].renewBefore, { ms: 20 * 60_000, text: '20m' });
  });

  it('name the tunnel and the field, with the JSON path, when wrong', () => {
    const { errors } = parseTunnels([
      { ...base, identityCommand: '', renewBefore: 'soon' },
      { name: 'p12', listen: 1, target: 'h:1', pfx: '/c/me.p12', identityCommand: 'renew' },
      { ...base, name: 'pct', renewBefore: '100%' },
    ]);
    const shown = errors.map((e) => [e.tunnel, e.field, e.location.index, e.location.path.join('.')]);
    assert.deepEqual(shown, [
      ['db', 'identityCommand', 0, 'identityCommand'],
      ['db', 'renewBefore', 0, 'renewBefore'],
      ['p12', 'identityCommand', 1, 'identityCommand'],
      ['pct', 'renewBefore', 2, 'renewBefore'],
    ]);
    assert.match(errors[1].message, /"20m", "1h30m", "2d".*"33%"/);
    assert.match(errors[2].message, /use cert and key with it, not pfx/);
    assert.match(errors[3].message, /below 100%/);
  });

  it('renewBefore: durations add up, percentages are of the lifetime, the default is a third', () => {
    assert.deepEqual(parseRenewBefore('1h30m'), { ms: 90 * 60_000, text: '1h30m' });
    assert.deepEqual(parseRenewBefore('2d'), { ms: 2 * 86_400_000, text: '2d' });
    assert.deepEqual(parseRenewBefore('33%'), { fraction: 0.33, text: '33%' });
    assert.equal(typeof parseRenewBefore('0s'), 'string');
    assert.equal(typeof parseRenewBefore('0%'), 'string');
    assert.equal(typeof parseRenewBefore(20), 'string');
    const hour = 3_600_000;
    assert.equal(renewalLead(undefined, 0, 3 * hour), hour);
    assert.equal(renewalLead({ fraction: 0.5, text: '50%' }, 0, 3 * hour), 1.5 * hour);
    assert.equal(renewalLead({ ms: 60_000, text: '1m' }, 0, 3 * hour), 60_000);
  });
});

describe('the shell the command runs in', () => {
  it('is /bin/sh -c on POSIX, the command line as one argument', () => {
    assert.deepEqual(shellInvocation('step ca renew "$MTLS_CERT_FILE" | tee x', 'linux', {}), { file: '/bin/sh', args: ['-c', 'step ca renew "$MTLS_CERT_FILE" | tee x'], windowsVerbatimArguments: false });
    assert.equal(shellInvocation('x', 'darwin', { SHELL: '/bin/zsh' }).file, '/bin/sh');
  });

  it('is %ComSpec% /d /s /c "…" on Windows, verbatim, so the command\'s own quotes survive', () => {
    const cmd = '"C:\\Program Files\\step\\step.exe" ca certificate %MTLS_TUNNEL_NAME% "%MTLS_CERT_FILE%" "%MTLS_KEY_FILE%" --force';
    assert.deepEqual(shellInvocation(cmd, 'win32', { ComSpec: 'C:\\Windows\\system32\\cmd.exe' }), {
      file: 'C:\\Windows\\system32\\cmd.exe',
      args: ['/d', '/s', '/c', `"${cmd}"`],
      windowsVerbatimArguments: true,
    });
    // Windows variable names are case-insensitive.
    assert.equal(shellInvocation('x', 'win32', { COMSPEC: 'D:\\cmd.exe' }).file, 'D:\\cmd.exe');
    assert.deepEqual(shellInvocation('x', 'win32', {}).file, 'cmd.exe');
  });

  it('passes -c to a ComSpec that is not cmd.exe', () => {
    assert.deepEqual(shellInvocation('renew', 'win32', { ComSpec: 'C:\\msys64\\usr\\bin\\bash.exe' }), { file: 'C:\\msys64\\usr\\bin\\bash.exe', args: ['-c', 'renew'], windowsVerbatimArguments: false });
  });
});

describe('what the command printed', () => {
  it('nothing, or words without PEM: read the files again', () => {
    assert.deepEqual(identityFromOutput(Buffer.from('')), { kind: 'files' });
    assert.deepEqual(identityFromOutput(Buffer.from('✔ Certificate: /home/me/.mtls/me.crt\n')), { kind: 'files' });
  });

  it('a chain and a key (in any order, with chatter): used as they are', async () => {
    const ca = await CertificateAuthority.create('Parts CA', 'ec');
    const issued = await ca.issue({ commonName: 'alice', usage: 'client' });
    const out = identityFromOutput(Buffer.from(`issued for alice\n${issued.keyPem}${issued.chainPem}${ca.certPem}`));
    assert.equal(out.kind, 'pem');
    if (out.kind !== 'pem') return;
    assert.equal(out.cert.toString().match(/BEGIN CERTIFICATE/g)?.length, (issued.chainPem + ca.certPem).match(/BEGIN CERTIFICATE/g)?.length);
    assert.match(out.key.toString(), /PRIVATE KEY/);
  });

  it('PEM without a certificate or a key, two keys, a cut block: unusable, said without quoting it', async () => {
    const ca = await CertificateAuthority.create('Parts CA', 'ec');
    const issued = await ca.issue({ commonName: 'alice', usage: 'client' });
    const why = (text: string) => {
      const out = identityFromOutput(Buffer.from(text));
      assert.equal(out.kind, 'unusable');
      const reason = out.kind === 'unusable' ? out.why : '';
      assert.ok(!reason.includes('BEGIN') && !reason.includes(issued.keyPem.split('\n')[1]), reason);
      return reason;
    };
    assert.match(why(issued.chainPem), /no private key/);
    assert.match(why(issued.keyPem), /private key but no certificate/);
    assert.match(why(issued.chainPem + issued.keyPem + issued.keyPem), /2 private keys/);
    assert.match(why(issued.keyPem.slice(0, 60)), /not complete/);
    assert.equal(identityFromOutput(Buffer.alloc(10), true).kind, 'unusable');
  });
});

describe('the clock-jump detector', () => {
  it('calls when the wall clock moves more than the threshold beyond the monotonic clock, either way', () => {
    let wall = 1_000_000;
    let mono = 50;
    const jumps: number[] = [];
    const w = new ClockJumpWatcher((j) => jumps.push(j), { intervalMs: 0, thresholdMs: 30_000, wall: () => wall, monotonic: () => mono });
    wall += 5000;
    mono += 5000;
    w.tick();
    assert.deepEqual(jumps, [], 'both moved alike');
    wall += 8 * 3_600_000 + 5000; // a night asleep: the monotonic clock stood still
    mono += 5000;
    w.tick();
    assert.deepEqual(jumps, [8 * 3_600_000]);
    wall -= 60_000; // set back by hand
    mono += 0;
    w.tick();
    assert.deepEqual(jumps, [8 * 3_600_000, -60_000]);
    wall += 20_000;
    w.tick();
    assert.equal(jumps.length, 2, '20 s is under the threshold');
    w.dispose();
  });
});

describe('the renewal line of the tree and the status bar', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  const identity = (over: Partial<IdentityStatus>): IdentityStatus => ({ subject: 'CN=alice', validFrom: now - 3_600_000, validTo: now + 2 * 3_600_000, renewAt: now + 3_600_000, renewedBy: 'command', source: 'command output', ...over });

  it('says when identityCommand will renew a certificate outside its window, without a warning', () => {
    const w = renewalWords({ identityCommand: 'renew' }, identity({}), now)!;
    assert.equal(w.attention, 'none');
    assert.match(w.line, /valid until 2026-06-01 14:00:00Z; identityCommand renews it at 2026-06-01 13:00:00Z \(in 1 h 0 min\), from its output, kept in memory/);
  });

  it('warns inside the renewal window, and says who renews it', () => {
    const w = renewalWords({ identityCommand: 'renew' }, identity({ renewAt: now - 1000 }), now)!;
    assert.equal(w.attention, 'warning');
    assert.match(w.line, /inside its renewal window; identityCommand renews it/);
    const files = renewalWords({}, identity({ renewedBy: 'files', source: 'files', validTo: now + 3 * 86_400_000 }), now)!;
    assert.equal(files.attention, 'warning');
    assert.match(files.line, /in 3 days\); nothing renews it here \(no identityCommand\)/);
    const untrusted = renewalWords({ identityCommand: 'renew' }, identity({ renewedBy: 'files', validTo: now + 86_400_000 * 2 }), now)!;
    assert.match(untrusted.line, /not run in an untrusted workspace/);
  });

  it('says nothing about a long-lived certificate nothing renews; errs once one has expired', () => {
    assert.equal(renewalWords({}, identity({ renewedBy: 'files', validTo: now + 200 * 86_400_000 }), now), undefined);
    assert.equal(renewalWords({ identityCommand: 'renew' }, identity({ validTo: now - 1 }), now)!.attention, 'error');
  });
});

describe('export says what renews the certificate there', () => {
  it('names the command, the variables, a schedule, and how each sidecar reads the new files', () => {
    const { tunnels } = parseTunnels([{ ...base, identityCommand: 'step ca renew --force "$MTLS_CERT_FILE" "$MTLS_KEY_FILE"' }]);
    const flat = (text: string) => text.split('\n').filter((l) => /^[#;]/.test(l)).map((l) => l.replace(/^[#;] ?\s*/, '')).join(' ');
    const ghostunnel = flat(exportTunnel(tunnels[0], 'ghostunnel').text);
    assert.match(ghostunnel, /renewal: mtls-tunnels renews the client certificate by running identityCommand \(step ca renew --force "\$MTLS_CERT_FILE" "\$MTLS_KEY_FILE"\)/);
    assert.match(ghostunnel, /a cron job or a systemd timer/);
    assert.match(ghostunnel, /MTLS_TUNNEL_NAME=db MTLS_CERT_FILE=\/c\/me\.crt MTLS_KEY_FILE=\/c\/me\.key/);
    assert.match(ghostunnel, /--timed-reload 5m/);
    assert.match(flat(exportTunnel(tunnels[0], 'stunnel').text), /send stunnel SIGHUP after each renewal/);
    assert.match(flat(exportTunnel(tunnels[0], 'envoy').text), /restart it after each renewal, or serve them by SDS/);
    const plain = parseTunnels([base]).tunnels[0];
    assert.doesNotMatch(exportTunnel(plain, 'ghostunnel').text, /renewal:/);
  });
});
