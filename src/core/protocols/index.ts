import { Protocol } from '../config/model';
import { mysqlProtocol } from './mysql';
import { postgresProtocol } from './postgres';
import { ProtocolHandler } from './protocol';

export { ProtocolError, ProtocolHandler, SessionStart } from './protocol';

const direct: ProtocolHandler = {};

export function protocolHandler(protocol: Protocol): ProtocolHandler {
  switch (protocol) {
    case 'postgres':
      return postgresProtocol;
    case 'tls':
    case 'postgres-direct':
      return direct;
    case 'mysql':
      return mysqlProtocol;
  }
}
