/**
 * A real certificate authority on the command line, as a team's CA client would be: `openssl ca`
 * behind a shell script that an `identityCommand` runs. Each run mints a new EC key and a client
 * certificate valid for a few seconds (`-startdate/-enddate` take seconds, unlike `-days`), and
 * either prints both as PEM on stdout or renames them over `$MTLS_CERT_FILE`/`$MTLS_KEY_FILE`.
 * The script counts its runs in `runs`; a run can be made to wait for a file (`hold`), to show
 * a renewal still under way when the certificate expires.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export interface ShortLivedCa {
  dir: string;
  /** The CA certificate: what the server trusts for client certificates. */
  caCert: string;
  /** A shell command line for identityCommand. */
  /** `failAfter` N: runs after the Nth print a secret on stdout and a reason on stderr, and exit 4. */
  command(options: { lifetimeSeconds: number; output: 'stdout' | 'files'; holdOnRun?: number; failAfter?: number }): string;
  /** How many times the script has run. */
  runs(): number;
  /** Lets a held run go on. */
  release(): void;
}

const CNF = (dir: string) => `
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/issued
serial = ${dir}/serial
certificate = ${dir}/ca.crt
private_key = ${dir}/ca.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
x509_extensions = client_ext
[ anything ]
commonName = supplied
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
`;

export function makeShortLivedCa(dir: string): ShortLivedCa {
  mkdirSync(path.join(dir, 'issued'), { recursive: true });
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '1000\n');
  writeFileSync(path.join(dir, 'ca.cnf'), CNF(dir));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'ca.key'),
    '-out', path.join(dir, 'ca.crt'), '-subj', '/CN=Short-lived Test CA', '-days', '2'], { stdio: 'ignore' });
  // One run: count it, maybe wait, make a key and a request, sign it for LIFETIME seconds (backdated
  // 5 s for clock skew between openssl and Node), then print or rename into place.
  const script = path.join(dir, 'issue.sh');
  writeFileSync(script, `#!/bin/sh
set -e
CA="${dir}"
n=$(( $(cat "$CA/runs" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$CA/runs"
if [ "$FAIL_AFTER" -gt 0 ] && [ "$n" -gt "$FAIL_AFTER" ]; then
  echo "SECRET-ON-STDOUT-$n"
  echo "step: the provisioner token for $MTLS_TUNNEL_NAME has expired" >&2
  exit 4
fi
if [ "$n" = "$HOLD_ON_RUN" ]; then while [ ! -f "$CA/go" ]; do sleep 0.05; done; fi
work=$(mktemp -d "$CA/run.XXXXXX")
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" -subj "/CN=$MTLS_TUNNEL_NAME" -out "$work/req.csr" 2>/dev/null
openssl ca -batch -notext -config "$CA/ca.cnf" -in "$work/req.csr" -out "$work/cert.pem" \\
  -startdate "$(date -u -d '-5 sec' +%y%m%d%H%M%SZ)" -enddate "$(date -u -d "+$LIFETIME sec" +%y%m%d%H%M%SZ)" 2>"$work/ca.log" || { cat "$work/ca.log" >&2; exit 1; }
if [ "$OUTPUT" = stdout ]; then
  cat "$work/cert.pem" "$CA/ca.crt" "$work/key.pem"
else
  cp "$work/key.pem" "$MTLS_KEY_FILE.tmp" && mv "$MTLS_KEY_FILE.tmp" "$MTLS_KEY_FILE"
  cp "$work/cert.pem" "$MTLS_CERT_FILE.tmp" && mv "$MTLS_CERT_FILE.tmp" "$MTLS_CERT_FILE"
fi
rm -rf "$work"
`);
  chmodSync(script, 0o755);
  return {
    dir,
    caCert: path.join(dir, 'ca.crt'),
    command: ({ lifetimeSeconds, output, holdOnRun, failAfter }) => `LIFETIME=${lifetimeSeconds} OUTPUT=${output} HOLD_ON_RUN=${holdOnRun ?? 0} FAIL_AFTER=${failAfter ?? 0} '${script}'`,
    runs: () => {
      try {
        return Number(readFileSync(path.join(dir, 'runs'), 'utf8').trim());
      } catch {
        return 0;
      }
    },
    release: () => writeFileSync(path.join(dir, 'go'), ''),
  };
}
