#!/usr/bin/env bash
# Fetch MathJax, RequireJS and the Jupyter widget manager from npm into book/_vendor/ so the built
# site typesets math and shows widgets with no CDN. Not committed; `make install` runs this once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm install --silent --no-audit --no-fund --prefix "$tmp" \
  mathjax@3.2.2 requirejs@2.3.7 @jupyter-widgets/html-manager@1.0.15 >/dev/null
mods=$tmp/node_modules
out=$here/_vendor
rm -rf "$out" && mkdir -p "$out/mathjax/output/chtml/fonts" "$out/html-manager"
cp "$mods/mathjax/es5/tex-chtml.js" "$out/mathjax/"
cp -r "$mods/mathjax/es5/output/chtml/fonts/woff-v2" "$out/mathjax/output/chtml/fonts/"
cp "$mods/requirejs/require.js" "$out/"
cp "$mods/@jupyter-widgets/html-manager/dist/embed-amd.js" "$out/html-manager/"
find "$mods/@jupyter-widgets/html-manager/dist" -maxdepth 1 \( -name '*.woff*' -o -name '*.ttf' -o -name '*.eot' -o -name '*.svg' \) -exec cp {} "$out/html-manager/" \;
touch "$out/.stamp"
echo "vendored MathJax, RequireJS and the widget manager into $out"
