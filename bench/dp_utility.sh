#!/usr/bin/env bash
# Utility of the heart-disease study under differential privacy: runs the real
# four-hospital study (examples/heart-disease/demo.sh: real binaries, mutual
# TLS, secure aggregation, each hospital's ledger) in each setting below,
# REPEATS times, and prints the exact pooled test accuracy and AUC (from the
# sites' own evaluation files, which only a demo that plays every hospital can
# pool) beside the epsilon each hospital's ledger charged.
#
#   bench/dp_utility.sh [--bin-dir build/bin] [--repeats 3]
#
# Takes about 20 s per study on 2 cores. The noise multipliers are the largest
# that keep the whole plan (statistics, rounds, evaluation) under the ceiling;
# `cohort study check` prints each plan's cost.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/build/bin"
REPEATS=3
while (($#)); do
  case "$1" in
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --repeats) REPEATS="$2"; shift 2 ;;
    *) echo "usage: bench/dp_utility.sh [--bin-dir DIR] [--repeats N]" >&2; exit 2 ;;
  esac
done
WORK="$(mktemp -d -t cohort-dp-utility.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
PLAN="$ROOT/examples/heart-disease/plan.yaml"

# name | site ceiling | plan edits (sed expressions)
SETTINGS=(
  "no DP (FedAvg, 40 rounds)|none|s/^rounds: 10/rounds: 40/;s/  mode: distributed/  mode: off/;s/  learning_rate: 1.0/  learning_rate: 0.05/"
  "distributed, epsilon 1 (demo plan)|1.0|"
  "distributed, epsilon 3|3.0|s/  noise_multiplier: 15.3/  noise_multiplier: 5.0/"
  "local, epsilon 1|1.0|s/  mode: distributed/  mode: local/;s/  sampling_rate: 1.0/  sampling_rate: 0.5/;s/  local_steps: 5/  local_steps: 2/;s/  noise_multiplier: 15.3/  noise_multiplier: 11.0/"
  "local, epsilon 3|3.0|s/  mode: distributed/  mode: local/;s/  sampling_rate: 1.0/  sampling_rate: 0.5/;s/  local_steps: 5/  local_steps: 2/;s/  noise_multiplier: 15.3/  noise_multiplier: 3.8/"
)

printf '%-36s %-10s %-10s %-22s %-22s\n' setting "planned ε" "max spent" "accuracy mean (range)" "AUC mean (range)"
for setting in "${SETTINGS[@]}"; do
  IFS='|' read -r name ceiling edits <<< "$setting"
  sed -e "${edits:-p;d}" "$PLAN" > "$WORK/plan.yaml"
  [[ -z "$edits" ]] && cp "$PLAN" "$WORK/plan.yaml"
  args=(--bin-dir "$BIN_DIR" --plan "$WORK/plan.yaml")
  if [[ "$ceiling" == none ]]; then args+=(--allow-non-private); else args+=(--site-epsilon "$ceiling"); fi
  accs=() aucs=() planned="-" spent="-"
  for ((i = 0; i < REPEATS; i++)); do
    state="$WORK/run-$i-$RANDOM"
    "$ROOT/examples/heart-disease/demo.sh" "${args[@]}" --state-dir "$state" > "$state.out" 2>&1 ||
      { echo "run failed; see below" >&2; tail -n 30 "$state.out" >&2; exit 1; }
    pooled="$(awk '$1 == "pooled" {print $3, $4; exit}' "$state.out")"
    accs+=("${pooled% *}") aucs+=("${pooled#* }")
    summary="$state/coordinator/studies/heart-disease/summary.json"
    planned="$(grep -o '"planned_epsilon": [0-9.]*' "$summary" | head -n 1 | awk '{printf "%.3f", $2}' || true)"
    spent="$(grep -h -o '"study_epsilon_after":[0-9.e-]*' "$state"/sites/*/privacy/ledger.jsonl 2>/dev/null |
      cut -d: -f2 | sort -g | tail -n 1 | awk '{printf "%.3f", $1}' || true)"
  done
  stats() { printf '%s\n' "$@" | awk '{s += $1; if (NR == 1 || $1 < lo) lo = $1; if (NR == 1 || $1 > hi) hi = $1}
    END {printf "%.3f (%.3f-%.3f)", s / NR, lo, hi}'; }
  printf '%-36s %-10s %-10s %-22s %-22s\n' "$name" "${planned:--}" "${spent:--}" "$(stats "${accs[@]}")" "$(stats "${aucs[@]}")"
done
