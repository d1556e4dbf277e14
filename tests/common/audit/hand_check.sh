#!/bin/sh
# Checks every entry of one audit log file by hand, with jq, sha256sum and
# openssl only, exactly as docs/audit-log.md ("Checking a log by hand")
# shows. hand_check_test runs it on generated logs.
#
# Usage: hand_check.sh LOG_FILE CA_CERT
# Exits 0 if every entry holds, else 1 with the first failure on stderr.
set -eu
log=$1
ca=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "$log:$n: $*" >&2
  exit 1
}

lines=$(wc -l < "$log")
n=1
while [ "$n" -le "$lines" ]; do
  sed -n "${n}p" "$log" > "$work/line"

  # The line is in canonical form: jq -cS prints it back byte for byte.
  jq -cS . "$work/line" | cmp -s - "$work/line" || fail "not in canonical form"

  # (1) prev is the SHA-256 of the previous line without its newline
  #     (64 zeros for entry 1; a log pruned to start later is not checked here).
  prev=$(jq -r .prev "$work/line")
  if [ "$n" -gt 1 ]; then
    expected=$(sed -n "$((n - 1))p" "$log" | tr -d '\n' | sha256sum | cut -d' ' -f1)
    [ "$prev" = "$expected" ] || fail "prev $prev is not the hash of line $((n - 1)), $expected"
  elif [ "$(jq .seq "$work/line")" = 1 ]; then
    [ "$prev" = 0000000000000000000000000000000000000000000000000000000000000000 ] ||
      fail "entry 1 has prev $prev, not 64 zeros"
  fi

  # (2) The signer's certificate chains to the consortium CA at the entry's time.
  jq -r .signer "$work/line" > "$work/signer.pem"
  at=$(jq -r '.time | sub("\\.[0-9]+Z$"; "Z") | fromdate' "$work/line")
  openssl verify -x509_strict -attime "$at" -CAfile "$ca" "$work/signer.pem" > "$work/verify.out" 2>&1 ||
    fail "signer certificate: $(cat "$work/verify.out")"
  #     ... and names the same writer (cohort://ROLE/NAME) as entry 1.
  identity=$(openssl x509 -in "$work/signer.pem" -noout -ext subjectAltName | grep -o 'cohort://[^, ]*')
  [ "$n" -gt 1 ] || writer=$identity
  [ "$identity" = "$writer" ] || fail "signed by $identity, not by the log's writer $writer"

  # (3) The signature verifies over the entry without "signature".
  jq -cS 'del(.signature)' "$work/line" | tr -d '\n' > "$work/signed.json"
  jq -r .signature "$work/line" | openssl base64 -d -A > "$work/signature.der"
  openssl x509 -in "$work/signer.pem" -noout -pubkey > "$work/pub.pem"
  openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/signature.der" \
    "$work/signed.json" > "$work/dgst.out" 2>&1 || fail "signature: $(cat "$work/dgst.out")"

  n=$((n + 1))
done
echo "$log: $lines entries hold"
