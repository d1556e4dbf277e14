#include "common/audit/settings.h"

#include "common/util/status_macros.h"

namespace cohort::audit {

absl::StatusOr<AuditSettings> ParseAuditSettings(const util::ConfigNode& root) {
  AuditSettings settings;
  if (!root.Has("audit")) return settings;
  ASSIGN_OR_RETURN(util::ConfigNode node, root.Child("audit"));
  RETURN_IF_ERROR(node.CheckKeys({"max_file_mb", "keep_rotated_files"}));
  ASSIGN_OR_RETURN(int64_t mb, node.GetInt("max_file_mb", 64));
  if (mb < 1 || mb > 4096) return node.Child("max_file_mb")->Error("must be between 1 and 4096");
  ASSIGN_OR_RETURN(int64_t keep, node.GetInt("keep_rotated_files", 0));
  if (keep < 0 || keep > 1000000) {
    return node.Child("keep_rotated_files")->Error("must be >= 0 (0: keep every file)");
  }
  settings.rotation.max_bytes = mb << 20;
  settings.keep_rotated_files = static_cast<int>(keep);
  return settings;
}

absl::StatusOr<std::unique_ptr<AuditLog>> OpenWithSettings(
    const std::string& path, std::shared_ptr<const crypto::Signer> signer, std::string cert_pem,
    const AuditSettings& settings) {
  ASSIGN_OR_RETURN(std::unique_ptr<AuditLog> log,
                   AuditLog::Open(path, std::move(signer), std::move(cert_pem),
                                  util::RealClock::Get(), settings.rotation));
  if (settings.keep_rotated_files > 0) RETURN_IF_ERROR(log->PruneRotated(settings.keep_rotated_files));
  return log;
}

}  // namespace cohort::audit
