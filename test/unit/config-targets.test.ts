/**
 * Several targets in settings: a list of "host:port" with targetPolicy; each element is checked
 * on its own path (`target[1]`), each target keeps its own server name, and the package.json
 * schema says the same.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { forTarget } from '../../src/core/config/model';
import { parseTunnels } from '../../src/core/config/parse';

const base = { name: 'db', listen: 15432, cert: '/c/client.crt', key: '/c/client.key' };
const parse = (o: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => parseTunnels([{ ...base, ...o }], { env });

describe('config: several targets', () => {
  test('a list keeps its order, the first is "target", and each host is its own server name', () => {
    const { tunnels, errors } = parse({ target: ['db-a.internal:5432', '10.0.0.2:5432'] });
    assert.deepEqual(errors.map(String), []);
    const t = tunnels[0];
    assert.deepEqual(t.target, { host: 'db-a.internal', port: 5432 });
    assert.deepEqual(t.targets, [
      { host: 'db-a.internal', port: 5432, serverName: 'db-a.internal' },
      { host: '10.0.0.2', port: 5432, serverName: '10.0.0.2' },
    ]);
    assert.equal(t.targetPolicy, 'failover');
    assert.equal(forTarget(t, 1).serverName, '10.0.0.2');
    assert.deepEqual(forTarget(t, 1).target, { host: '10.0.0.2', port: 5432 });
  });

  test('serverName, when set, is what every target must prove', () => {
    const t = parse({ target: ['a.internal:1', 'b.internal:2'], serverName: 'db.internal', targetPolicy: 'round-robin' }).tunnels[0];
    assert.deepEqual(t.targets.map((x) => x.serverName), ['db.internal', 'db.internal']);
    assert.equal(t.targetPolicy, 'round-robin');
  });

  test('a bad element is named by its index; an empty list, a repeat and a misspelt policy too', () => {
    const errs = (o: Record<string, unknown>) => parse(o).errors.map((e) => [e.field, e.location.path, e.message]);
    assert.deepEqual(errs({ target: ['a:1', 'b'] }).map((e) => e.slice(0, 2)), [['target[1]', ['target', 1]]]);
    assert.match(String(parse({ target: ['a:1', 'b'] }).errors[0]), /^tunnel "db": target\[1\]: "b" is not "host:port"/);
    assert.match(String(parse({ target: [] }).errors[0]), /target: an empty list has no server to reach/);
    assert.match(String(parse({ target: ['a:1', 'A:1'] }).errors[0]), /target\[1\]: A:1 is already target\[0\]/);
    assert.match(String(parse({ target: ['a:1', 7] }).errors[0]), /target\[1\]: must be a non-empty string, not number 7/);
    const policy = parse({ target: ['a:1', 'b:2'], targetPolicy: 'roundrobin' }).errors[0];
    assert.equal(policy.field, 'targetPolicy');
    assert.match(policy.message, /did you mean "round-robin"/);
    assert.deepEqual(policy.location.fix, { kind: 'replaceValue', value: 'round-robin' });
    assert.equal(parse({ target: ['a:1', 'b'] }).tunnels.length, 0, 'the entry is left out');
  });

  test('"proxy": "env" is read per target: NO_PROXY can exempt one and not the other', () => {
    const t = parse({ target: ['db.corp:5432', 'db.cloud.example:5432'], proxy: 'env' }, { HTTPS_PROXY: 'http://proxy.corp:3128', NO_PROXY: '.corp' }).tunnels[0];
    assert.equal(t.targets[0].proxy, undefined);
    assert.match(t.targets[0].proxyBypass ?? '', /NO_PROXY entry ".corp"/);
    assert.equal(t.targets[1].proxy?.url, 'http://proxy.corp:3128');
    assert.equal(forTarget(t, 1).proxy?.url, 'http://proxy.corp:3128');
    assert.equal(forTarget(t, 0).proxy, undefined);
  });

  test('the package.json schema: a string or a non-empty list of strings, and the policy enum', () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8'));
    const props = pkg.contributes.configuration.properties['mtlsTunnels.tunnels'].items.properties;
    const [single, list] = props.target.oneOf;
    assert.equal(single.type, 'string');
    assert.equal(list.type, 'array');
    assert.equal(list.minItems, 1);
    assert.equal(list.items.pattern, single.pattern);
    assert.deepEqual(props.targetPolicy.enum, ['failover', 'round-robin']);
    assert.equal(props.targetPolicy.default, 'failover');
  });
});
