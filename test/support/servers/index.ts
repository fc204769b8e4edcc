/** Real servers from Debian's packages, each demanding a client certificate, for tests. */
export { binary, DEBIAN_PACKAGES, findBinary, requireBinary } from './binaries';
export { clientEnv, run, runOk } from './daemon';
export type { RunOptions, RunResult } from './daemon';
export type { RunningServer, ServerOptions, ServerPki } from './server';
export { startPostgres } from './postgres';
export type { PostgresOptions, RunningPostgres } from './postgres';
export { startRedis } from './redis';
export type { RunningRedis } from './redis';
export { startNginx } from './nginx';
export type { NginxOptions, RunningNginx } from './nginx';
export { startMariadb } from './mariadb';
export type { MariadbOptions, RunningMariadb } from './mariadb';
export { startTinyproxy } from './tinyproxy';
export type { RunningTinyproxy, TinyproxyOptions } from './tinyproxy';
