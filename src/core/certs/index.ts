/** Certificate, key and PKCS#12 inspection into plain summaries (no `vscode`, no side effects). */
export { CertificateFileError } from './errors';
export type { CertificateFileErrorCode } from './errors';
export { chainOrder, checkChainOrder, issuedBy } from './chain';
export type { ChainCheck } from './chain';
export { readCertificateFile } from './files';
export type { FileKind, LoadedFile } from './files';
export { formatInspections } from './format';
export { inspectFiles } from './inspect';
export type { FileInspection, InspectOptions, KeySummary } from './inspect';
export { certificateMatchingKey, keyMatchesCertificate } from './match';
export { splitPem } from './pem';
export type { PemBlock } from './pem';
export type { LoadedPrivateKey, PrivateKeyFormat } from './privateKeys';
export { describeKey, formatKeyAlgorithm, spkiSha256 } from './publicKey';
export type { KeyAlgorithm } from './publicKey';
export { EXPIRES_SOON_DAYS, isSelfSigned, summarizeCertificate } from './summary';
export type { CertificateRole, CertificateSummary, ValidityStatus } from './summary';
