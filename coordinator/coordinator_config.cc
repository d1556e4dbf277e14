#include "coordinator/coordinator_config.h"

#include <filesystem>

#include "common/util/config_node.h"
#include "common/util/status_macros.h"

namespace cohort::coordinator {
absl::StatusOr<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path) {
  using util::ConfigNode;
  ASSIGN_OR_RETURN(ConfigNode root, ConfigNode::LoadFile(path));
  RETURN_IF_ERROR(root.CheckKeys({"listen", "port_file", "tls", "state_dir", "studies",
                                  "exit_when_done", "liveness_grace_seconds", "audit"}));
  const std::string base = std::filesystem::path(path).parent_path().string();
  CoordinatorConfig config;
  ASSIGN_OR_RETURN(config.listen, root.GetString("listen"));
  if (!util::IsHostPort(config.listen)) {
    return root.Child("listen")->Error("must be host:port");
  }
  ASSIGN_OR_RETURN(std::string port_file, root.GetString("port_file", ""));
  if (!port_file.empty()) config.port_file = util::ResolvePath(base, port_file);
  ASSIGN_OR_RETURN(ConfigNode tls, root.Child("tls"));
  ASSIGN_OR_RETURN(config.tls, net::TlsFilesFromConfig(tls, base));
  ASSIGN_OR_RETURN(std::string state_dir, root.GetString("state_dir"));
  config.state_dir = util::ResolvePath(base, state_dir);
  ASSIGN_OR_RETURN(ConfigNode studies, root.Child("studies"));
  ASSIGN_OR_RETURN(std::vector<std::string> plans, studies.AsStringList());
  if (plans.empty()) return studies.Error("must list at least one study plan");
  for (const auto& p : plans) config.studies.push_back(util::ResolvePath(base, p));
  ASSIGN_OR_RETURN(config.exit_when_done, root.GetBool("exit_when_done", false));
  ASSIGN_OR_RETURN(double grace, root.GetDouble("liveness_grace_seconds", 5));
  if (!(grace > 0)) return root.Child("liveness_grace_seconds")->Error("must be > 0");
  config.liveness_grace = absl::Seconds(grace);
  ASSIGN_OR_RETURN(config.audit, audit::ParseAuditSettings(root));
  return config;
}

}  // namespace cohort::coordinator
