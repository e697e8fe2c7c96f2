#!/usr/bin/env bash
# The main job on the embedded default: install missing packages, build,
# then load, validate and print the example task templates with the
# embedded (in-memory, no server) configuration.
#
#   TASKER_TEMPLATE_PATH  templates to load (default: examples/templates)
#   SKIP_DEPS=1           do not check the Debian packages
# BUILD_DIR, BUILD_TYPE, CMAKE_ARGS and JOBS are passed to scripts/build.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export BUILD_DIR=${BUILD_DIR:-build}

if [[ ${SKIP_DEPS:-0} != 1 ]]; then
  bash scripts/install-deps.sh
fi
bash scripts/build.sh

ctl="$BUILD_DIR/apps/tasker-ctl"
echo "==> $ctl config validate"
"$ctl" config validate
echo "==> $ctl template validate ${TASKER_TEMPLATE_PATH:-examples/templates}"
"$ctl" template validate "${TASKER_TEMPLATE_PATH:-examples/templates}"
