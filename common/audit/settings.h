// How a coordinator or site agent keeps its audit log, from the `audit:`
// section of its own config (docs/audit-log.md#rotation-and-retention):
//
//   audit:
//     max_file_mb: 64          # rotate the current file beyond this size
//     keep_rotated_files: 0    # 0: keep every rotated file; N: prune older ones
//
// Pruning records what it removed in the log itself ("log_pruned"), so the
// chain stays verifiable. Plain value; thread-compatible.
#ifndef COHORT_COMMON_AUDIT_SETTINGS_H_
#define COHORT_COMMON_AUDIT_SETTINGS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "common/audit/audit_log.h"
#include "common/util/config_node.h"

namespace cohort::audit {

struct AuditSettings {
  RotationPolicy rotation;
  int keep_rotated_files = 0;
};

// Reads the optional `audit` key of a config's root map. InvalidArgument
// naming the file, line and field for an unknown key or a value out of range
// (max_file_mb in [1, 4096], keep_rotated_files >= 0).
absl::StatusOr<AuditSettings> ParseAuditSettings(const util::ConfigNode& root);

// Opens the log at `path` with these settings and prunes rotated files
// beyond keep_rotated_files. Errors as AuditLog::Open and PruneRotated.
absl::StatusOr<std::unique_ptr<AuditLog>> OpenWithSettings(
    const std::string& path, std::shared_ptr<const crypto::Signer> signer, std::string cert_pem,
    const AuditSettings& settings);

}  // namespace cohort::audit

#endif  // COHORT_COMMON_AUDIT_SETTINGS_H_
