#!/bin/sh
# End to end under valgrind memcheck: pesim records a trace from the shipped Fashion-MNIST
# VGG-19 (functional engine, 16 test images), runs a functional experiment with every row
# logged, sweeps the default experiment's 144 points over the recorded trace with 2 worker
# processes, merges, and prints the databases, trace, model and a cost table. Any memory error
# or definite, indirect or possible leak in any process (workers included) fails the test.
# usage: valgrind_e2e.sh PESIM SOURCE_DIR      (exit 77, skipped, without valgrind or the dataset)
set -eu
PESIM="$1"
SRC="$2"
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not installed: skipped" >&2
    exit 77
fi
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
    echo "Debian's dataset-fashion-mnist not installed: skipped" >&2
    exit 77
fi
D=$(mktemp -d /tmp/pesim_valgrind_XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$SRC"
V="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible
   --errors-for-leak-kinds=definite,indirect,possible --trace-children=yes"
MODEL=models/vgg19-w4-fashion-mnist.model

step() {
    echo "== $*" >&2
    # shellcheck disable=SC2086
    if ! $V "$PESIM" "$@" >"$D/out.txt" 2>&1; then
        cat "$D/out.txt" >&2
        echo "FAILED under valgrind: pesim $*" >&2
        exit 1
    fi
}

step infer "$MODEL" --data fashion-mnist --limit 16 --batch 8 --trace-out "$D/t.trace"
step trace info "$D/t.trace"
step model info "$MODEL"
step run -q -s experiment.model="$MODEL" -s experiment.trace= -s experiment.samples=4 \
    -s experiment.log=all -s experiment.out="$D/f.db" configs/paper/vgg19-w4-fashion-mnist/dvfs.ini
step sweep -q -j 2 -s experiment.trace="$D/t.trace" -s experiment.out="$D/s.db" configs/default.ini
step merge "$D/m.db" "$D/s.db" "$D/f.db"
step db info "$D/m.db"
step table configs/default.ini

runs=$(sqlite3 "$D/m.db" "SELECT count(*) FROM runs WHERE status = 'done'")
rows=$(sqlite3 "$D/m.db" "SELECT count(*) FROM inferences")
if [ "$runs" != 145 ] || [ "$rows" != $((144 * 16 + 4)) ]; then
    echo "merged database has $runs done runs and $rows inferences, want 145 and $((144 * 16 + 4))" >&2
    exit 1
fi
echo "valgrind-clean: 8 pesim commands, $runs runs, $rows inferences" >&2
