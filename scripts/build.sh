#!/usr/bin/env bash
# Configures and builds Tasker C++ with CMake.
#
#   BUILD_DIR   build directory (default: build, relative to the repository)
#   BUILD_TYPE  CMAKE_BUILD_TYPE (default: RelWithDebInfo)
#   CMAKE_ARGS  extra configure arguments, e.g. "-DTASKER_SANITIZE=ON"
#   JOBS        parallel build jobs (default: nproc)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo}
JOBS=${JOBS:-$(nproc)}
read -r -a extra_args <<<"${CMAKE_ARGS:-}"

echo "build: cmake -S . -B $BUILD_DIR -DCMAKE_BUILD_TYPE=$BUILD_TYPE ${extra_args[*]}"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" "${extra_args[@]}"
echo "build: cmake --build $BUILD_DIR -j$JOBS"
cmake --build "$BUILD_DIR" -j"$JOBS"
