#include "site_agent/site_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/util/config_node.h"
#include "common/util/status_macros.h"

namespace cohort::site {
namespace {

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

absl::StatusOr<SiteConfig> LoadSiteConfig(const std::string& path) {
  using util::ConfigNode;
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  RETURN_IF_ERROR(root.CheckKeys({"site", "coordinator", "tls", "state_dir",
                                  "approved_studies", "data", "poll", "reconnect",
                                  "privacy", "audit"}));
  const std::string base = std::filesystem::path(path).parent_path().string();
  SiteConfig config;
  ASSIGN_OR_RETURN(config.site, root.GetString("site"));
  if (config.site.empty()) return root.Child("site")->Error("must not be empty");

  ASSIGN_OR_RETURN(ConfigNode coordinator, root.Child("coordinator"));
  RETURN_IF_ERROR(coordinator.CheckKeys({"address", "server_name"}));
  ASSIGN_OR_RETURN(config.coordinator_address, coordinator.GetString("address"));
  if (!util::IsHostPort(config.coordinator_address)) {
    return coordinator.Child("address")->Error("must be host:port");
  }
  ASSIGN_OR_RETURN(config.coordinator_server_name, coordinator.GetString("server_name", ""));

  ASSIGN_OR_RETURN(ConfigNode tls, root.Child("tls"));
  ASSIGN_OR_RETURN(config.tls, net::TlsFilesFromConfig(tls, base));

  ASSIGN_OR_RETURN(std::string state_dir, root.GetString("state_dir"));
  config.state_dir = util::ResolvePath(base, state_dir);

  if (root.Has("approved_studies")) {
    ASSIGN_OR_RETURN(ConfigNode approved, root.Child("approved_studies"));
    ASSIGN_OR_RETURN(std::vector<ConfigNode> entries, approved.Elements());
    for (const ConfigNode& entry : entries) {
      RETURN_IF_ERROR(entry.CheckKeys({"study_id", "plan_sha256", "plan"}));
      ApprovedStudy study;
      ASSIGN_OR_RETURN(study.study_id, entry.GetString("study_id"));
      ASSIGN_OR_RETURN(study.plan_sha256, entry.GetString("plan_sha256"));
      study.plan_sha256 = absl::AsciiStrToLower(study.plan_sha256);
      if (!IsHex64(study.plan_sha256)) {
        return entry.Child("plan_sha256")->Error(
            "must be the 64-hex-digit SHA-256 of the approved plan file "
            "(`cohort study hash PLAN.yaml` prints it)");
      }
      for (const auto& earlier : config.approved_studies) {
        if (earlier.study_id == study.study_id) {
          return entry.Child("study_id")->Error(
              absl::StrCat("study '", study.study_id, "' is approved twice"));
        }
      }
      ASSIGN_OR_RETURN(std::string plan, entry.GetString("plan", ""));
      if (!plan.empty()) study.plan_path = util::ResolvePath(base, plan);
      config.approved_studies.push_back(std::move(study));
    }
  }

  ASSIGN_OR_RETURN(ConfigNode data, root.Child("data"));
  ASSIGN_OR_RETURN(config.data, data::ParseDataSource(data, base));

  if (root.Has("poll")) {
    ASSIGN_OR_RETURN(ConfigNode poll, root.Child("poll"));
    RETURN_IF_ERROR(poll.CheckKeys({"wait_seconds"}));
    ASSIGN_OR_RETURN(double wait, poll.GetDouble("wait_seconds", 10));
    if (!(wait > 0 && wait <= 60)) return poll.Child("wait_seconds")->Error("must be in (0, 60]");
    config.poll_wait = absl::Seconds(wait);
  }
  if (root.Has("reconnect")) {
    ASSIGN_OR_RETURN(ConfigNode rc, root.Child("reconnect"));
    RETURN_IF_ERROR(rc.CheckKeys({"initial_backoff_ms", "max_backoff_ms"}));
    ASSIGN_OR_RETURN(int64_t initial, rc.GetInt("initial_backoff_ms", 200));
    ASSIGN_OR_RETURN(int64_t max, rc.GetInt("max_backoff_ms", 30000));
    if (initial < 1) return rc.Child("initial_backoff_ms")->Error("must be at least 1");
    if (max < initial) return rc.Child("max_backoff_ms")->Error("must be >= initial_backoff_ms");
    config.initial_backoff = absl::Milliseconds(initial);
    config.max_backoff = absl::Milliseconds(max);
  }
  if (root.Has("privacy")) {
    ASSIGN_OR_RETURN(ConfigNode privacy, root.Child("privacy"));
    RETURN_IF_ERROR(privacy.CheckKeys({"per_study", "total", "allow_non_private"}));
    auto ceiling = [&](absl::string_view key, double& epsilon, double& delta) -> absl::Status {
      if (!privacy.Has(key)) return absl::OkStatus();
      ASSIGN_OR_RETURN(ConfigNode node, privacy.Child(key));
      RETURN_IF_ERROR(node.CheckKeys({"epsilon", "delta"}));
      ASSIGN_OR_RETURN(epsilon, node.GetDouble("epsilon", epsilon));
      ASSIGN_OR_RETURN(delta, node.GetDouble("delta", delta));
      if (!(epsilon > 0) || !std::isfinite(epsilon)) {
        return node.Child("epsilon").value_or(node).Error("must be > 0");
      }
      if (!(delta > 0 && delta < 1)) return node.Child("delta").value_or(node).Error("must be in (0, 1)");
      return absl::OkStatus();
    };
    RETURN_IF_ERROR(ceiling("per_study", config.privacy.study_epsilon, config.privacy.study_delta));
    RETURN_IF_ERROR(ceiling("total", config.privacy.total_epsilon, config.privacy.total_delta));
    if (config.privacy.study_epsilon > config.privacy.total_epsilon) {
      return privacy.Child("per_study")->Error(
          "per_study epsilon must not exceed the total epsilon");
    }
    ASSIGN_OR_RETURN(config.privacy.allow_non_private,
                     privacy.GetBool("allow_non_private", false));
  }
  ASSIGN_OR_RETURN(config.audit, audit::ParseAuditSettings(root));
  return config;
}

}  // namespace cohort::site
