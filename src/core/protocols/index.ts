import { Protocol } from '../config/model';
import { postgresProtocol } from './postgres';
import { ProtocolHandler } from './protocol';

export { ProtocolError, ProtocolHandler } from './protocol';

const direct: ProtocolHandler = {};

export function protocolHandler(protocol: Protocol): ProtocolHandler {
  switch (protocol) {
    case 'postgres':
      return postgresProtocol;
    case 'tls':
    case 'postgres-direct':
      return direct;
    case 'mysql':
      throw new Error('the mysql protocol is not available yet');
  }
}
