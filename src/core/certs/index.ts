/** Certificate, key and PKCS#12 inspection into plain summaries (no `vscode`, no side effects). */
export { CertificateFileError, CertificateFileErrorCode } from './errors';
export { ChainCheck, chainOrder, checkChainOrder, issuedBy } from './chain';
export { FileKind, LoadedFile, readCertificateFile } from './files';
export { formatInspections } from './format';
export { FileInspection, InspectOptions, KeySummary, inspectFiles } from './inspect';
export { certificateMatchingKey, keyMatchesCertificate } from './match';
export { PemBlock, splitPem } from './pem';
export { LoadedPrivateKey, PrivateKeyFormat } from './privateKeys';
export { KeyAlgorithm, describeKey, formatKeyAlgorithm, spkiSha256 } from './publicKey';
export { CertificateRole, CertificateSummary, EXPIRES_SOON_DAYS, ValidityStatus, isSelfSigned, summarizeCertificate } from './summary';
