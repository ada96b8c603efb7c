#!/usr/bin/env bash
# Re-vendor the viewer's JavaScript libraries from npm at pinned versions (no build step):
#   three (MIT) and @pixiv/three-vrm (MIT), ES module builds, with their licence files.
# Usage: mocap_bridge/viewer/revendor.sh [THREE_VERSION] [THREE_VRM_VERSION]
# Needs npm and network access to the npm registry; writes mocap_bridge/viewer/static/vendor/.
set -euo pipefail

THREE_VERSION="${1:-0.187.0}"
VRM_VERSION="${2:-3.5.5}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
    "three@$THREE_VERSION" "@pixiv/three-vrm@$VRM_VERSION" >/dev/null

rm -rf "$dest"
mkdir -p "$dest/three/addons/loaders" "$dest/three/addons/utils" "$dest/three/addons/controls" "$dest/three-vrm"
t="$tmp/node_modules/three"
cp "$t/build/three.module.js" "$t/build/three.core.js" "$t/LICENSE" "$dest/three/"
cp "$t/examples/jsm/loaders/GLTFLoader.js" "$dest/three/addons/loaders/"
cp "$t/examples/jsm/utils/BufferGeometryUtils.js" "$t/examples/jsm/utils/SkeletonUtils.js" "$dest/three/addons/utils/"
cp "$t/examples/jsm/controls/OrbitControls.js" "$dest/three/addons/controls/"
v="$tmp/node_modules/@pixiv/three-vrm"
cp "$v/lib/three-vrm.module.min.js" "$dest/three-vrm/"
cp "$v/LICENSE" "$dest/three-vrm/LICENSE"

cat > "$dest/VERSIONS.txt" <<VERSIONS
three $(node -p "require('$t/package.json').version") (MIT, https://github.com/mrdoob/three.js)
@pixiv/three-vrm $(node -p "require('$v/package.json').version") (MIT, https://github.com/pixiv/three-vrm)
Re-vendor with mocap_bridge/viewer/revendor.sh; loaded through the import map in index.html.
VERSIONS
echo "vendored into $dest:"
cat "$dest/VERSIONS.txt"
