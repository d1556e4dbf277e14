// One entry of a Cohort audit log: its fields, its canonical bytes, and how
// it is signed and read back. The file format is documented in
// docs/audit-log.md; this header is its reference implementation, shared by
// the writer (audit_log.h) and the verifier (verify.h).
//
// An entry is one line of JSON Lines: a JSON object with exactly the keys
// "body", "prev", "seq", "signature", "signer", "time", "type", written in
// canonical form (below). "signature" is the base64 DER ECDSA P-256/SHA-256
// signature of the writer's certificate key over the canonical bytes of the
// same object without the "signature" key; "prev" is the hex SHA-256 of the
// previous entry's line, so the entries form a hash chain.
//
// Canonical form (what nlohmann::json::dump() prints for a std::map-backed
// object, and byte for byte what `jq -cS .` prints for it; checked with jq
// 1.6 over every Unicode code point): object keys sorted by their UTF-8
// bytes, no whitespace, strings escaped as JSON (", \, \b \f \n \r \t, other
// control characters as \u00XX in lower-case hex, everything else including
// non-ASCII UTF-8 as is), integers in decimal. To keep that last "byte for byte" true, every value
// in an entry must be a string, an integer, true, false, null, an array or an
// object, where:
//   - integers lie in [-(2^53 - 1), 2^53 - 1] (jq 1.6 holds numbers as
//     doubles and would print larger ones in exponent form);
//   - there are no floating-point numbers at all (nlohmann prints 1.0 as
//     "1.0", jq as "1"; so NaN and infinities are refused too): write a
//     fraction as a string, e.g. "epsilon": "0.93";
//   - strings and keys are valid UTF-8 without U+007F DELETE (which jq
//     escapes and nlohmann does not).
// CheckValue enforces this for writers; ParseEntry refuses any line that is
// not exactly the canonical bytes of what it parses to.
//
// Security: integrity rests on ECDSA P-256 with SHA-256 (FIPS 186-5) over the
// canonical bytes and on the SHA-256 hash chain (the construction of
// Schneier & Kelsey, "Secure audit logs to support computer forensics",
// ACM TISSEC 1999, with public-key signatures instead of MACs so anyone with
// the consortium CA can verify). A signature proves who wrote an entry and
// that it is unchanged; the chain proves order and that nothing was removed
// between two entries. Neither can prove that the end of a log was not cut
// off: that needs a copy of a later head held by someone else (the
// cross-anchors checked by verify.h). ECDSA signatures are malleable (s ->
// n - s), so the bytes of the last entry's signature, and hence the log's
// head, can be changed by anyone without changing what the entry says; such
// a change makes anchors to that head fail, which is reported as tampering.
//
// Thread-safety: all functions are thread-safe (no shared state).
#ifndef COHORT_COMMON_AUDIT_ENTRY_H_
#define COHORT_COMMON_AUDIT_ENTRY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/signature.h"
#include "nlohmann/json.hpp"

namespace cohort::audit {

// "prev" of the first entry of a log: 64 zeros.
inline constexpr absl::string_view kZeroHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The largest integer magnitude an entry may hold: 2^53 - 1.
inline constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// Types the log writes itself; AuditLog::Append refuses them from callers.
inline constexpr absl::string_view kLogRotatedType = "log_rotated";
inline constexpr absl::string_view kLogPrunedType = "log_pruned";

// One entry, as written or as read back.
struct Entry {
  int64_t seq = 0;
  std::string time;  // RFC 3339 UTC with milliseconds: 2024-05-01T12:00:00.764Z
  std::string prev;  // lower-case hex SHA-256 of the previous line
  std::string type;
  nlohmann::json body;  // an object
  std::string signer_pem;
  std::string signature_b64;
  std::string line;  // the exact bytes of the line, without the final "\n"
  std::string hash;  // lower-case hex SHA-256 of `line`
};

// The time format of "time": RFC 3339 in UTC, always with three fraction
// digits and "Z" (absl::FormatTime syntax).
inline constexpr absl::string_view kTimeFormat = "%Y-%m-%dT%H:%M:%E3SZ";

// `t` (truncated to the millisecond, towards the past) in kTimeFormat.
std::string FormatEntryTime(absl::Time t);

// Parses a "time" value. InvalidArgument unless `text` is exactly what
// FormatEntryTime prints for some time.
absl::StatusOr<absl::Time> ParseEntryTime(absl::string_view text);

// OK if `value` may appear in an entry (see "Canonical form" above), else
// InvalidArgument naming the offending place, e.g. "body.stats[2]: 0.5 is a
// floating-point number; entries hold only integers (write fractions as
// strings)". `where` names `value` in that message.
absl::Status CheckValue(const nlohmann::json& value, absl::string_view where = "body");

// OK if `type` may be an entry type: 1 to 64 characters of
// [A-Za-z0-9_.:-]. InvalidArgument otherwise.
absl::Status CheckType(absl::string_view type);

// The canonical bytes of `value` (which must pass CheckValue, or this may
// abort on invalid UTF-8).
std::string CanonicalBytes(const nlohmann::json& value);

// The bytes an entry's signature covers: the canonical bytes of the entry
// object without its "signature" key.
std::string SignedBytes(const Entry& entry);

// Builds the entry (seq, time, prev, type, body, signer = cert_pem), signs
// it with `signer` and fills in every field of Entry, including `line` and
// `hash`. This is what AuditLog::Append writes; tests use it to make entries
// by hand. Does not check that `signer` holds `cert_pem`'s key.
// Returns InvalidArgument if a field breaks the rules of ParseEntry (body not
// an object, values outside the canonical subset, bad type, time or prev,
// seq out of range); Internal if signing fails.
absl::StatusOr<Entry> SignEntry(int64_t seq, absl::string_view time, absl::string_view prev,
                                absl::string_view type, nlohmann::json body,
                                const crypto::Signer& signer, absl::string_view cert_pem);

// Reads one line (without its "\n") into an Entry, checking its form but not
// its signature or its place in a chain: valid JSON; an object with exactly
// the seven keys; seq an integer in [1, 2^53 - 1]; time as FormatEntryTime
// prints it; prev 64 lower-case hex digits; type as CheckType; body an
// object; signer and signature strings, the signature canonical base64;
// every value in the canonical subset; and `line` exactly the canonical bytes
// of the object. Returns InvalidArgument saying what is wrong otherwise.
absl::StatusOr<Entry> ParseEntry(absl::string_view line);

// Standard base64 with padding (RFC 4648, section 4), no line breaks.
std::string Base64Encode(absl::string_view data);
// Inverse of Base64Encode; InvalidArgument unless `text` is exactly what
// Base64Encode prints for some bytes (so one signature has one spelling).
absl::StatusOr<std::string> Base64Decode(absl::string_view text);

// Checks `signature` (DER ECDSA) over `data` with the public key of the first
// certificate in `cert_pem`, without checking the certificate itself (use
// crypto::Verifier for that). For a verifier without the CA, and for the
// writer's check that its key and certificate belong together.
// InvalidArgument if the certificate does not parse or its key is not ECDSA
// P-256; PermissionDenied("signature does not verify") otherwise.
absl::Status VerifyWithCertificateKey(absl::string_view cert_pem, absl::string_view data,
                                      absl::string_view signature);

// "site va", "coordinator localhost": a writer's identity, for messages.
std::string IdentityString(const crypto::PeerIdentity& identity);

// ---- File names (see docs/audit-log.md, "Files"). ----

// The name of rotated file number `index` of the log whose current file is
// `path`: path's stem + "." + index in at least 6 digits + ".jsonl", in the
// same folder (site.jsonl, 3 -> site.000003.jsonl). `index` must be >= 1.
std::string RotatedFilePath(const std::string& path, int64_t index);

// The index of a rotated file name of `path`'s log (a file name, or a path
// whose file name is checked), or 0 if `name` is not one.
int64_t RotatedFileIndex(const std::string& path, absl::string_view name);

struct RotatedFile {
  int64_t index = 0;
  std::string path;
};

// The rotated files of the log whose current file is `path` that exist now,
// oldest (lowest index) first. Returns an errno-derived status naming the
// folder if it cannot be listed (NotFound if it does not exist).
absl::StatusOr<std::vector<RotatedFile>> ListRotatedFiles(const std::string& path);

}  // namespace cohort::audit

#endif  // COHORT_COMMON_AUDIT_ENTRY_H_
