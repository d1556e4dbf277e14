#!/usr/bin/env bash
# A four-hospital Cohort study on this machine: a throwaway consortium PKI, one
# coordinator and four site agents as separate processes on loopback, mutual
# TLS everywhere. Run it through `./run demo [--state-dir DIR]`.
set -euo pipefail

EXAMPLE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR=""
STATE_DIR=""
PLAN="$EXAMPLE_DIR/plan.yaml"
SITE_EPSILON=""        # bench/dp_utility.sh: each hospital's per-study ceiling
ALLOW_NON_PRIVATE=false
while (($#)); do
  case "$1" in
    --bin-dir) BIN_DIR="$2"; shift 2 ;;
    --state-dir) STATE_DIR="$2"; shift 2 ;;
    --plan) PLAN="$2"; shift 2 ;;
    --site-epsilon) SITE_EPSILON="$2"; shift 2 ;;
    --allow-non-private) ALLOW_NON_PRIVATE=true; shift ;;
    *) echo "usage: demo.sh --bin-dir DIR [--state-dir DIR] [--plan PLAN.yaml]" \
            "[--site-epsilon E] [--allow-non-private]" >&2; exit 2 ;;
  esac
done
[[ -n "$BIN_DIR" ]] || { echo "demo.sh: --bin-dir is required" >&2; exit 2; }
if [[ -z "$STATE_DIR" ]]; then
  STATE_DIR="$(mktemp -d -t cohort-demo.XXXXXX)"
else
  mkdir -p "$STATE_DIR"
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"
  if [[ -e "$STATE_DIR/pki/ca.crt" ]]; then
    echo "demo.sh: $STATE_DIR already holds a demo; choose an empty folder" >&2
    exit 2
  fi
fi
SITES=(cleveland hungarian switzerland va)
COHORT="$BIN_DIR/cohort"

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

bold "Cohort demo: four hospitals, one coordinator, on this machine"
echo "state folder: $STATE_DIR"
mkdir -p "$STATE_DIR/logs" "$STATE_DIR/coordinator" "$STATE_DIR/config"

bold "1. Consortium PKI (CA, coordinator and one certificate per hospital)"
"$COHORT" pki init --dir "$STATE_DIR/pki" --consortium "Cohort demo consortium" >/dev/null
"$COHORT" pki issue coordinator localhost --dir "$STATE_DIR/pki" >/dev/null
for s in "${SITES[@]}"; do "$COHORT" pki issue site "$s" --dir "$STATE_DIR/pki" >/dev/null; done
echo "   CA and 5 certificates in $STATE_DIR/pki (private keys mode 0600)"

cp "$PLAN" "$STATE_DIR/plan.yaml"
PLAN_SHA256="$("$COHORT" study hash "$STATE_DIR/plan.yaml" | cut -d' ' -f1)"
echo "   study plan heart-disease, SHA-256 $PLAN_SHA256 (each hospital approves this hash)"

render() {  # render TEMPLATE OUT
  local ceiling=() allow=()
  if [[ -n "$SITE_EPSILON" ]]; then
    ceiling=(-e "s|per_study: {epsilon: 1.0|per_study: {epsilon: $SITE_EPSILON|"
             -e "s|total: {epsilon: 3.0|total: {epsilon: $SITE_EPSILON|")
  fi
  if $ALLOW_NON_PRIVATE; then allow=(-e "s|allow_non_private: false|allow_non_private: true|"); fi
  sed -e "s|@STATE_DIR@|$STATE_DIR|g" -e "s|@EXAMPLE_DIR@|$EXAMPLE_DIR|g" \
      -e "s|@PLAN_SHA256@|$PLAN_SHA256|g" -e "s|@COORDINATOR_PORT@|${PORT:-0}|g" \
      "${ceiling[@]}" "${allow[@]}" "$1" > "$2"
}

bold "2. Coordinator"
render "$EXAMPLE_DIR/coordinator.yaml" "$STATE_DIR/config/coordinator.yaml"
"$BIN_DIR/cohort-coordinator" --config "$STATE_DIR/config/coordinator.yaml" \
  2> "$STATE_DIR/logs/coordinator.log" &
COORD_PID=$!
PIDS+=("$COORD_PID")
for _ in $(seq 1 200); do
  [[ -s "$STATE_DIR/coordinator/port" ]] && break
  kill -0 "$COORD_PID" 2>/dev/null || { cat "$STATE_DIR/logs/coordinator.log" >&2; exit 1; }
  sleep 0.05
done
PORT="$(tr -d '\n' < "$STATE_DIR/coordinator/port")"
echo "   listening on localhost:$PORT (mutual TLS); log: $STATE_DIR/logs/coordinator.log"

bold "3. Site agents (each connects out to the coordinator)"
for s in "${SITES[@]}"; do
  render "$EXAMPLE_DIR/sites/$s.yaml" "$STATE_DIR/config/$s.yaml"
  "$BIN_DIR/cohort-site" --config "$STATE_DIR/config/$s.yaml" --exit-when-done \
    2> "$STATE_DIR/logs/site-$s.log" &
  PIDS+=("$!")
  echo "   $s started; log: $STATE_DIR/logs/site-$s.log"
done

bold "4. Training (distributed DP-SGD over secure aggregation; each hospital's ledger charges every release)"
printf '   %-7s %-7s %s\n' round sites "epsilon spent so far (read from cleveland's own ledger; its ceiling is 1)"
tail -n +1 -f --pid="$COORD_PID" "$STATE_DIR/logs/coordinator.log" 2>/dev/null |
  sed -nu -E 's/.*round ([0-9]+) of ([0-9]+): ([0-9]+) sites.*/\1 \2 \3/p' |
  while read -r r total n; do
    eps="$(grep -h -o '"study_epsilon_after":[0-9.e-]*' "$STATE_DIR"/sites/cleveland/privacy/ledger.jsonl 2>/dev/null |
      tail -n 1 | cut -d: -f2 || true)"
    printf '   %3s/%-3s %-7s %.3f\n' "$r" "$total" "$n" "${eps:-0}"
  done
wait "$COORD_PID" && COORD_RC=0 || COORD_RC=$?
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()
if ((COORD_RC != 0)); then
  echo "the coordinator exited with status $COORD_RC; last lines of its log:" >&2
  tail -n 20 "$STATE_DIR/logs/coordinator.log" >&2
  exit 1
fi

bold "5. Results"
# The demo plays all four hospitals, so it may pool the exact metrics each
# one kept to itself; a real consortium sees only the noisy released ones.
"$COHORT" study report "$STATE_DIR/coordinator/studies/heart-disease/summary.json" \
  --site-evaluations "$STATE_DIR"/sites/*/evaluations/heart-disease.json
echo
echo "Each hospital's privacy ledger: $STATE_DIR/sites/<name>/privacy/ledger.jsonl"
echo "Signed audit logs: $STATE_DIR/coordinator/audit/coordinator.jsonl and $STATE_DIR/sites/<name>/audit/site.jsonl"
echo "Verify them (chains, signatures, cross-anchors) and write a report for a privacy officer:"
echo "  $COHORT audit verify $STATE_DIR/coordinator/audit/coordinator.jsonl --ca $STATE_DIR/pki/ca.crt --against $STATE_DIR/sites/*/audit/site.jsonl"
echo "  $COHORT audit privacy $STATE_DIR/sites/cleveland/audit/site.jsonl"
echo "  $COHORT audit report $STATE_DIR/coordinator/audit/coordinator.jsonl $STATE_DIR/sites/*/audit/site.jsonl --ca $STATE_DIR/pki/ca.crt --out $STATE_DIR/report.html"
echo "summary: $STATE_DIR/coordinator/studies/heart-disease/summary.json"
echo "model:   $STATE_DIR/coordinator/studies/heart-disease/model.json"
echo "logs:    $STATE_DIR/logs/"
