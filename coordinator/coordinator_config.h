// The coordinator's configuration file (YAML), see docs/operator-guide.md.
//
//   listen: 0.0.0.0:7443          # host:port; port 0 picks a free port
//   port_file: state/port         # optional: the bound port is written here
//   tls: {ca: pki/ca.crt, cert: pki/coordinator/x.crt, key: pki/coordinator/x.key}
//   state_dir: /var/lib/cohort/coordinator
//   studies: [plans/heart-disease.yaml]
//   exit_when_done: false         # exit once every study has finished
//   liveness_grace_seconds: 5     # a site silent this long is treated as gone
//   audit: {max_file_mb: 64, keep_rotated_files: 0}   # see common/audit/settings.h
//
// Relative paths are resolved against the config file's folder.
#ifndef COHORT_COORDINATOR_COORDINATOR_CONFIG_H_
#define COHORT_COORDINATOR_COORDINATOR_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/audit/settings.h"
#include "common/net/tls.h"

namespace cohort::coordinator {

struct CoordinatorConfig {
  std::string listen;
  std::string port_file;
  net::TlsFiles tls;
  std::string state_dir;
  std::vector<std::string> studies;  // plan file paths
  bool exit_when_done = false;
  absl::Duration liveness_grace = absl::Seconds(5);
  // <state_dir>/audit/coordinator.jsonl: rotation and retention.
  audit::AuditSettings audit;
};

// InvalidArgument naming file, line and field on any problem.
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path);

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_COORDINATOR_CONFIG_H_
