#!/bin/sh
# Run the paper's grid and regenerate every figure (docs/figures.md). From the repository root:
#
#   configs/paper/run.sh [-j N] [-p PESIM] [MODEL...]
#
# MODEL is a folder of configs/paper/ (vgg19-w4-fashion-mnist, resnet34-w8-fashion-mnist,
# vgg19-w4-mnist, resnet34-w8-mnist); default: every one whose model file models/MODEL.model
# exists. For each model: record its logit trace traces/MODEL.trace once (pesim infer, about a
# minute for 10 000 images), run every experiment of configs/paper/MODEL/ into
# results/paper-MODEL.db with `pesim sweep -j N` (analysis/sweep.py where pesim has no sweep
# command; both skip points already done, so an interrupted grid resumes), then write the
# figures and report.html into results/figures with `pesim report`.
set -eu

jobs=$(nproc 2>/dev/null || echo 1)
pesim=${PESIM:-}
while getopts "j:p:h" opt; do
    case $opt in
    j) jobs=$OPTARG ;;
    p) pesim=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$pesim" ]; then
    if [ -x build/default/sim/pesim ]; then pesim=build/default/sim/pesim; else pesim=pesim; fi
fi
[ -d configs/paper ] || { echo "run.sh: run from the repository root" >&2; exit 2; }

models="$*"
if [ -z "$models" ]; then
    for d in configs/paper/*/model.ini; do
        m=$(basename "$(dirname "$d")")
        if [ -f "models/$m.model" ]; then models="$models $m"; fi
    done
fi
[ -n "$models" ] || { echo "run.sh: no model file models/MODEL.model found" >&2; exit 1; }

experiments="classic classic-duty policies dvfs dvfs-ee duty duty-ee l0 rounds kernel softmax entropy patience"
mkdir -p traces results
for m in $models; do
    case $m in
    *fashion-mnist) data=fashion-mnist ;;
    *mnist) data=mnist ;;
    *) echo "run.sh: unknown dataset in '$m'" >&2; exit 2 ;;
    esac
    if [ ! -f "traces/$m.trace" ]; then
        echo "== $m: recording traces/$m.trace"
        "$pesim" infer "models/$m.model" --data "$data" --trace-out "traces/$m.trace"
    fi
    for e in $experiments; do
        echo "== $m: $e"
        if "$pesim" sweep --help >/dev/null 2>&1; then
            "$pesim" sweep -j "$jobs" "configs/paper/$m/$e.ini"
        else
            PESIM="$pesim" /usr/bin/python3 analysis/sweep.py -j "$jobs" "configs/paper/$m/$e.ini"
        fi
    done
done

dbs=""
for m in $models; do dbs="$dbs results/paper-$m.db"; done
# shellcheck disable=SC2086
"$pesim" report $dbs --out results/figures
