// Placeholder: the real CLI (up, check, inspect, export) replaces this.
process.stderr.write('mtls-tunnels: not built yet\n');
process.exit(2);
