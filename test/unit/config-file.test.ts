/**
 * Config files the CLI reads: `.vscode/settings.json` (JSONC, comments and trailing commas), a
 * `.code-workspace` file, a plain `{ "tunnels": [...] }` file; `${workspaceFolder}` is the folder
 * holding `.vscode` (or the file's own folder); and what the user sees when a file is wrong.
 * Also the variable substitution on its own.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigFileError, DEFAULT_CONFIG_FILE, extractTunnels, loadConfigFile, workspaceFolderOf } from '../../src/core/config/file';
import { substituteVariables } from '../../src/core/config/variables';

describe('config files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function write(relative: string, text: string): Promise<string> {
    const file = path.join(dir, relative);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
    return file;
  }

  async function fileError(file: string): Promise<ConfigFileError> {
    const e = await loadConfigFile(file).then(() => undefined, (err: unknown) => err);
    assert.ok(e instanceof ConfigFileError, `expected a ConfigFileError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    return e;
  }

  test('.vscode/settings.json with comments and trailing commas; ${workspaceFolder} is the folder holding .vscode', async () => {
    assert.equal(DEFAULT_CONFIG_FILE, path.join('.vscode', 'settings.json'));
    const file = await write('project/.vscode/settings.json', `// workspace settings
{
  "editor.tabSize": 2,
  /* the tunnels */
  "mtlsTunnels.tunnels": [
    {
      "name": "staging-db", // psql -h 127.0.0.1 -p 15432
      "listen": 15432,
      "target": "db.staging.internal:5432",
      "protocol": "postgres",
      "cert": "\${workspaceFolder}/certs/client.crt",
      "key": "\${userHome}/.keys/client.key",
      "ca": "certs/ca.pem",
      "passphrase": "\${env:KEY_PASS}",
    },
    { "name": "api", "listen": "127.0.0.1:18443", "target": "api.internal:443", "pfx": "~/client.p12", },
  ],
}
`);
    const project = path.join(dir, 'project');
    const result = await loadConfigFile(file, { userHome: '/home/alice', env: { KEY_PASS: 's3' } });
    assert.deepEqual(result.errors.map(String), []);
    assert.equal(result.file, file);
    assert.equal(result.workspaceFolder, project);
    assert.equal(workspaceFolderOf(file), project);
    const [db, api] = result.tunnels;
    assert.equal(db.name, 'staging-db');
    assert.equal(db.protocol, 'postgres');
    assert.equal(db.cert, path.join(project, 'certs/client.crt'));
    assert.equal(db.key, '/home/alice/.keys/client.key');
    assert.equal(db.ca, path.join(project, 'certs/ca.pem'));
    assert.equal(db.passphrase, 's3');
    assert.equal(db.folder, project);
    assert.equal(api.pfx, '/home/alice/client.p12');
    assert.deepEqual(api.listen, { host: '127.0.0.1', port: 18443 });
  });

  test('a .code-workspace file: tunnels under "settings"; ${workspaceFolder} is the file\'s folder', async () => {
    const file = await write('team/platform.code-workspace', `{
  "folders": [{ "path": "." }, { "path": "../other" },],
  // shared with the team
  "settings": {
    "mtlsTunnels.tunnels": [
      { "name": "redis", "listen": 16379, "target": "redis.internal:6379", "cert": "\${workspaceFolder}/c.crt", "key": "k.key" },
    ],
  },
}`);
    const result = await loadConfigFile(file);
    assert.deepEqual(result.errors.map(String), []);
    assert.equal(result.workspaceFolder, path.join(dir, 'team'));
    assert.equal(result.tunnels[0].cert, path.join(dir, 'team', 'c.crt'));
    assert.equal(result.tunnels[0].key, path.join(dir, 'team', 'k.key'));
  });

  test('a plain { "tunnels": [] } file, and one with entries', async () => {
    const empty = await loadConfigFile(await write('plain/empty.json', '{ "tunnels": [] }'));
    assert.deepEqual(empty.tunnels, []);
    assert.deepEqual(empty.errors, []);
    const file = await write('plain/tunnels.json', JSON.stringify({ tunnels: [
      { name: 'ok', listen: 1, target: 'a:1', cert: 'c', key: 'k' },
      { name: 'broken', listen: 2, target: 'a:1', cert: 'c', key: 'k', protocol: 'tlz' },
    ] }));
    const result = await loadConfigFile(file);
    assert.deepEqual(result.tunnels.map((t) => t.name), ['ok']);
    assert.equal(result.tunnels[0].cert, path.join(dir, 'plain', 'c'));
    assert.deepEqual(result.errors.map(String), ['tunnel "broken": protocol: unknown protocol "tlz"; use one of tls, postgres, postgres-direct, mysql; did you mean "tls"?']);
  });

  test('a file that is not valid JSON names the line and column', async () => {
    const file = await write('bad/syntax.json', '{\n  "tunnels": [\n    { "name": "x" \n  ]\n}\n');
    const e = await fileError(file);
    assert.match(e.message, /not valid JSON at line 4, column 3: /);
  });

  test('a file without tunnels, a file that is not an object, a missing file', async () => {
    const none = await fileError(await write('bad/no-tunnels.json', '{ "editor.tabSize": 2 }'));
    assert.match(none.message, /has no "mtlsTunnels.tunnels" .* and no "tunnels" key/);
    const array = await fileError(await write('bad/array.json', '[]'));
    assert.match(array.message, /must hold a JSON object/);
    const empty = await fileError(await write('bad/empty.json', ''));
    assert.match(empty.message, /not valid JSON/);
    const missing = await fileError(path.join(dir, 'nowhere', 'settings.json'));
    assert.match(missing.message, /no such file/);
  });

  test('"tunnels" that is not an array is a config error, not a crash', async () => {
    const result = await loadConfigFile(await write('bad/object.json', '{ "tunnels": { "name": "x" } }'));
    assert.deepEqual(result.tunnels, []);
    assert.match(String(result.errors[0]), /must be an array of tunnels/);
  });

  test('extractTunnels prefers mtlsTunnels.tunnels, then tunnels, then settings', () => {
    assert.deepEqual(extractTunnels('{"mtlsTunnels.tunnels": [1], "tunnels": [2]}', 'f'), [1]);
    assert.deepEqual(extractTunnels('{"tunnels": [2], "settings": {"mtlsTunnels.tunnels": [3]}}', 'f'), [2]);
    assert.deepEqual(extractTunnels('{"settings": {"mtlsTunnels.tunnels": [3]}}', 'f'), [3]);
    assert.throws(() => extractTunnels('{"settings": {}}', 'f'), ConfigFileError);
  });
});

describe('variable substitution', () => {
  const ctx = { workspaceFolder: '/ws', userHome: '/home/bob', env: { A: 'alpha', EMPTY: '' } };

  test('known variables, several in one string, and a leading ~', () => {
    assert.deepEqual(substituteVariables('${workspaceFolder}/${env:A}/${userHome}', ctx), { ok: true, value: '/ws/alpha//home/bob' });
    assert.deepEqual(substituteVariables('~', ctx), { ok: true, value: '/home/bob' });
    assert.deepEqual(substituteVariables('~/x', ctx), { ok: true, value: '/home/bob/x' });
    assert.deepEqual(substituteVariables('a~/x', ctx), { ok: true, value: 'a~/x' });
    assert.deepEqual(substituteVariables('~other/x', ctx), { ok: true, value: '~other/x' });
    assert.deepEqual(substituteVariables('${env:EMPTY}x', ctx), { ok: true, value: 'x' }, 'set but empty is set');
    assert.deepEqual(substituteVariables('no variables', ctx), { ok: true, value: 'no variables' });
    assert.deepEqual(substituteVariables('$HOME {x}', ctx), { ok: true, value: '$HOME {x}' });
  });

  test('the real home folder and environment by default', () => {
    assert.deepEqual(substituteVariables('${userHome}', {}), { ok: true, value: os.homedir() });
    process.env.MTLS_TUNNELS_TEST_VAR = 'from-process';
    try {
      assert.deepEqual(substituteVariables('${env:MTLS_TUNNELS_TEST_VAR}', {}), { ok: true, value: 'from-process' });
    } finally {
      delete process.env.MTLS_TUNNELS_TEST_VAR;
    }
  });

  test('problems are reported, the first one wins', () => {
    assert.deepEqual(substituteVariables('${env:B}', ctx), { ok: false, message: 'environment variable B is not set (used as ${env:B})' });
    assert.deepEqual(substituteVariables('${workspaceFolder}', { userHome: '/h' }), { ok: false, message: '${workspaceFolder} is used but there is no workspace folder' });
    const unknown = substituteVariables('${foo}/${env:B}', ctx);
    assert.equal(unknown.ok, false);
    assert.match(!unknown.ok ? unknown.message : '', /^unknown variable \$\{foo\}/);
    assert.equal(substituteVariables('${env:}', ctx).ok, false);
    assert.equal(substituteVariables('${}', ctx).ok, false);
  });
});
