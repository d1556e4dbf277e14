// cohort-site: the agent a hospital runs next to its data. It only connects
// out to the coordinator.
//
//   cohort-site --config site.yaml [--check] [--exit-when-done] [--log-format json]
//
// Exit codes: 0 stopped normally, 2 bad configuration or data (the message
// names file, line and column), 3 refused by the coordinator or a TLS
// problem (the message says why), 4 other runtime error.
#include <filesystem>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/study/study_plan.h"
#include "common/util/logging.h"
#include "common/util/signals.h"
#include "common/net/tls.h"
#include "crypto/files.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "site_agent/agent.h"
#include "site_agent/site_config.h"

namespace {
using cohort::util::LogError;
using cohort::util::LogInfo;
}  // namespace

int main(int argc, char** argv) {
  cohort::util::BlockTerminationSignals();
  CLI::App app{"Cohort site agent: trains on this hospital's data; connects out only"};
  std::string config_path, log_format = "text";
  bool check_only = false, exit_when_done = false;
  app.add_option("--config", config_path, "site YAML config")->required();
  app.add_flag("--check", check_only, "validate the config and the data for every approved plan, then exit");
  app.add_flag("--exit-when-done", exit_when_done, "exit once every study of this site has finished");
  app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);
  const auto format = *cohort::util::ParseLogFormat(log_format);
  cohort::util::InitLogging("site", format);

  auto config = cohort::site::LoadSiteConfig(config_path);
  if (!config.ok()) {
    LogError({}, std::string(config.status().message()));
    return 2;
  }
  cohort::util::InitLogging(absl::StrCat("site:", config->site), format);
  std::error_code ec;
  std::filesystem::create_directories(config->state_dir, ec);
  if (ec) {
    LogError({}, absl::StrCat(config->state_dir, ": cannot create state dir: ", ec.message()));
    return 2;
  }

  // The certificate must be this site's: its identity is what the
  // coordinator authorizes, whatever the config calls the site.
  {
    auto pem = cohort::crypto::ReadFile(config->tls.cert);
    if (!pem.ok()) {
      LogError({}, std::string(pem.status().message()));
      return 2;
    }
    auto identity = cohort::crypto::IdentityFromCertificatePem(*pem);
    if (!identity.ok()) {
      LogError({}, absl::StrCat(config->tls.cert, ": ", identity.status().message()));
      return 2;
    }
    if (identity->role != cohort::crypto::Role::kSite || identity->name != config->site) {
      LogError({}, absl::StrCat(config_path, ": site is '", config->site, "' but certificate ",
                                config->tls.cert, " belongs to ",
                                cohort::crypto::RoleName(identity->role), " '", identity->name,
                                "'"));
      return 2;
    }
  }

  auto client = cohort::site::CoordinatorClient::Create(
      config->coordinator_address, config->coordinator_server_name, config->tls);
  if (!client.ok()) {
    LogError({}, std::string(client.status().message()));
    return 2;
  }
  cohort::site::SiteAgent agent(*config, {.exit_when_done = exit_when_done}, *std::move(client));

  // Check the data against every approved plan we have a copy of, before
  // connecting: a bad row is reported here, with file, line and column.
  for (size_t i = 0; i < config->approved_studies.size(); ++i) {
    const auto& approved = config->approved_studies[i];
    if (approved.plan_path.empty()) continue;
    auto plan = cohort::study::LoadStudyPlan(approved.plan_path);
    if (!plan.ok()) {
      LogError({}, std::string(plan.status().message()));
      return 2;
    }
    if (plan->sha256 != approved.plan_sha256) {
      LogError({}, absl::StrCat(config_path, ": approved_studies[", i, "]: plan file ",
                                approved.plan_path, " has SHA-256 ", plan->sha256,
                                ", but plan_sha256 pins ", approved.plan_sha256));
      return 2;
    }
    if (auto s = agent.executor().Preload(*plan); !s.ok()) {
      LogError({approved.study_id, -1, config->site}, std::string(s.message()));
      return 2;
    }
  }
  if (check_only) {
    if (auto s = cohort::net::CheckOwnCertificate(config->tls); !s.ok()) {
      LogError({}, std::string(s.message()));
      return 3;
    }
    LogInfo({}, "configuration, certificate and data are valid");
    return 0;
  }

  cohort::util::WatchTerminationSignals([&agent](int sig) {
    LogInfo({}, absl::StrCat("received signal ", sig, ", stopping"));
    agent.Stop();
  });
  absl::Status status = agent.Run();
  if (status.ok()) {
    LogInfo({}, "site agent stopped");
    return 0;
  }
  LogError({}, std::string(status.message()));
  std::cerr << "cohort-site: " << status.message() << "\n";
  return absl::IsPermissionDenied(status) ? 3 : 4;
}
