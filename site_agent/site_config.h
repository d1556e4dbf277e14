// The site agent's configuration (YAML), owned by the hospital: see
// docs/site-guide.md for every field.
//
//   site: cleveland
//   coordinator: {address: "coordinator.example.org:7443"}
//   tls: {ca: pki/ca.crt, cert: pki/sites/cleveland.crt, key: pki/sites/cleveland.key}
//   state_dir: /var/lib/cohort/site
//   approved_studies:
//     - {study_id: heart-disease, plan_sha256: "9f2c...", plan: plans/heart-disease.yaml}
//   data: {...}                  # see common/data/data_source.h
//   poll: {wait_seconds: 10}
//   reconnect: {initial_backoff_ms: 200, max_backoff_ms: 30000}
//   privacy:                     # the hospital's own budget (docs/privacy.md)
//     per_study: {epsilon: 1.0, delta: 1e-5}
//     total: {epsilon: 3.0, delta: 1e-5}
//     allow_non_private: false   # refuse plans with privacy.mode: off
//   audit: {max_file_mb: 64, keep_rotated_files: 0}   # <state_dir>/audit/site.jsonl
//
// Relative paths are resolved against the config file's folder.
#ifndef COHORT_SITE_AGENT_SITE_CONFIG_H_
#define COHORT_SITE_AGENT_SITE_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/audit/settings.h"
#include "common/data/data_source.h"
#include "common/net/tls.h"

namespace cohort::site {

struct ApprovedStudy {
  std::string study_id;
  std::string plan_sha256;  // lower-case hex
  // Optional local copy of the approved plan: lets the agent check its data
  // against the plan's variables before it connects.
  std::string plan_path;
};

// What this hospital lets studies spend, enforced by its own ledger
// (<state_dir>/privacy/ledger.jsonl). The coordinator cannot raise it.
struct PrivacyBudget {
  double study_epsilon = 1.0;
  double study_delta = 1e-5;
  double total_epsilon = 3.0;
  double total_delta = 1e-5;
  // Plans that turn privacy off are refused unless the hospital allows them
  // (for debugging on synthetic data).
  bool allow_non_private = false;
};

struct SiteConfig {
  std::string site;
  std::string coordinator_address;
  // Optional TLS server name override (when the address is an IP the
  // coordinator's certificate does not name).
  std::string coordinator_server_name;
  net::TlsFiles tls;
  std::string state_dir;
  std::vector<ApprovedStudy> approved_studies;
  data::DataSourceConfig data;
  absl::Duration poll_wait = absl::Seconds(10);
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(30);
  PrivacyBudget privacy;
  audit::AuditSettings audit;
};

// InvalidArgument naming the file, line and field on any problem.
absl::StatusOr<SiteConfig> LoadSiteConfig(const std::string& path);

}  // namespace cohort::site

#endif  // COHORT_SITE_AGENT_SITE_CONFIG_H_
