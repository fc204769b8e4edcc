/**
 * Where the real server binaries live, and what a test does when one is missing: skip with a
 * message on a developer's machine, fail under CI (where a skipped suite would hide a broken image).
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import * as path from 'node:path';

/** The Debian package that provides each binary the tests use. */
export const DEBIAN_PACKAGES: Record<string, string> = {
  postgres: 'postgresql',
  initdb: 'postgresql',
  psql: 'postgresql-client',
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  stunnel: 'stunnel4',
  nginx: 'nginx-light',
  curl: 'curl',
  mariadbd: 'mariadb-server',
  'mariadb-install-db': 'mariadb-server',
  mariadb: 'mariadb-client',
  tinyproxy: 'tinyproxy',
};

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** PostgreSQL's server binaries are not on PATH in Debian: newest /usr/lib/postgresql/N/bin first. */
function postgresBinDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`);
  } catch {
    return [];
  }
}

/** Absolute path of `name`, or undefined. PostgreSQL's own bin dir wins over Debian's pg_wrapper. */
export function findBinary(name: string): string | undefined {
  const dirs = [...postgresBinDirs(), ...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
  return dirs.filter(Boolean).map((dir) => path.join(dir, name)).find(isExecutable);
}

/** Like findBinary, but throws naming the package to install. */
export function binary(name: string): string {
  const found = findBinary(name);
  if (!found) throw new Error(missingMessage([name]));
  return found;
}

function missingMessage(names: string[]): string {
  const packages = [...new Set(names.map((n) => DEBIAN_PACKAGES[n] ?? n))];
  return `missing ${names.join(', ')} (apt-get install ${packages.join(' ')})`;
}

/**
 * For `describe(name, { skip: requireBinary('redis-server', 'redis-cli') }, …)`: false when every
 * binary is present, else a skip message. Under CI=true a missing binary throws instead, so the
 * test file fails rather than quietly skipping.
 */
export function requireBinary(...names: string[]): string | false {
  const missing = names.filter((n) => !findBinary(n));
  if (missing.length === 0) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${missingMessage(missing)}`);
  return missingMessage(missing);
}
