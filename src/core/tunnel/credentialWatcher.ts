/**
 * Watches credential files for replacement. Tools that renew certificates (cert-manager, step,
 * vault agent) write a new file and rename it over the old one, which ends a watch on the file
 * itself; so the folder is watched and events are filtered by name, then debounced because one
 * renewal touches cert and key a few milliseconds apart.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TunnelConfig } from '../config/model';

/** The files a tunnel's credentials are read from, as `loadCredentials` reads them. */
export function credentialFiles(config: Pick<TunnelConfig, 'cert' | 'key' | 'pfx' | 'ca' | 'crl'>): string[] {
  const identity = config.pfx ? [config.pfx] : [config.cert, config.key];
  // A CRL is replaced as often as its CA publishes one: new connections check against the new one.
  return [...identity, config.ca, config.crl].filter((f): f is string => typeof f === 'string' && f.length > 0);
}

export class CredentialWatcher {
  private readonly watchers: fs.FSWatcher[] = [];
  private timer?: NodeJS.Timeout;

  constructor(files: string[], onChange: () => void, debounceMs = 250) {
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const dir = path.dirname(f);
      if (!byDir.has(dir)) byDir.set(dir, new Set());
      byDir.get(dir)!.add(path.basename(f));
    }
    for (const [dir, names] of byDir) {
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, name) => {
          if (name && !names.has(name.toString())) return;
          clearTimeout(this.timer);
          this.timer = setTimeout(onChange, debounceMs);
        });
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch {
        // A folder that cannot be watched only means no automatic reload; the tunnel still runs.
      }
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }
}
