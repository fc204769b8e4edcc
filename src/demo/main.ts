// Placeholder: the real demo (throwaway PKI, mTLS echo server, tunnel, traffic) replaces this.
process.exit(1);
