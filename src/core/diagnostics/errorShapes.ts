/**
 * What an error looks like from the outside, before it is explained: read by the diagnosis and
 * by the doctor, which decides from it whether to probe further.
 */

/** The server hung up without a word: a reset, a broken pipe, or a close right after the handshake. */
export function isBareHangUp(error: { code?: string; message?: string }): boolean {
  const message = error.message ?? '';
  return ['ECONNRESET', 'EPIPE', 'ERR_MTLS_CLOSED_AFTER_HANDSHAKE'].includes(error.code ?? '') || message === 'socket hang up' || /socket disconnected before secure TLS/.test(message);
}

/** OpenSSL's ways of saying the first bytes back were not TLS. */
const PLAINTEXT_ANSWER_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_UNKNOWN_PROTOCOL']);

export function isPlaintextAnswer(error: { code?: string }): boolean {
  return PLAINTEXT_ANSWER_CODES.has(error.code ?? '');
}

/** What a server refusing our certificate looks like: its alert, or a bare hang-up (not our own verification errors). */
export function isServerRefusal(error: { code?: string; message?: string }): boolean {
  return /ALERT/.test(error.code ?? '') || isBareHangUp(error);
}
