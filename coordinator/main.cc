// cohort-coordinator: runs the consortium's studies and serves the site API.
//
//   cohort-coordinator --config coordinator.yaml [--log-format text|json]
//
// Exit codes: 0 all studies completed (or stopped by a signal), 1 a study
// failed, 2 bad configuration or plan, 3 the server could not start.
#include <atomic>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "openssl/rand.h"
#include "absl/synchronization/notification.h"
#include "common/audit/audit_log.h"
#include "common/net/tls.h"
#include "crypto/signature.h"
#include "common/study/study_plan.h"
#include "common/util/clock.h"
#include "common/util/logging.h"
#include "common/util/signals.h"
#include "coordinator/blob_store.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/site_registry.h"
#include "coordinator/site_service.h"
#include "coordinator/study_runner.h"
#include "crypto/files.h"
#include "grpcpp/grpcpp.h"

namespace {

using cohort::util::LogError;
using cohort::util::LogInfo;

int Main(const std::string& config_path) {
  auto config = cohort::coordinator::LoadCoordinatorConfig(config_path);
  if (!config.ok()) {
    LogError({}, std::string(config.status().message()));
    return 2;
  }
  std::vector<cohort::study::StudyPlan> plans;
  for (const std::string& path : config->studies) {
    auto plan = cohort::study::LoadStudyPlan(path);
    if (!plan.ok()) {
      LogError({}, std::string(plan.status().message()));
      return 2;
    }
    for (const auto& other : plans) {
      if (other.study_id == plan->study_id) {
        LogError({}, absl::StrCat(path, ": study_id '", plan->study_id,
                                  "' is used by two plans"));
        return 2;
      }
    }
    plans.push_back(*std::move(plan));
  }
  std::error_code ec;
  std::filesystem::create_directories(config->state_dir, ec);
  if (ec) {
    LogError({}, absl::StrCat(config->state_dir, ": cannot create state dir: ", ec.message()));
    return 2;
  }

  auto credentials = cohort::net::MakeServerCredentials(config->tls);
  if (!credentials.ok()) {
    LogError({}, std::string(credentials.status().message()));
    return 2;
  }

  auto ca_pem = cohort::crypto::ReadFile(config->tls.ca);
  if (!ca_pem.ok()) {
    LogError({}, std::string(ca_pem.status().message()));
    return 2;
  }
  // The coordinator's signed audit log (docs/audit-log.md), shared by its
  // studies: every entry is durable before the action it records.
  std::unique_ptr<cohort::audit::AuditLog> audit_log;
  std::shared_ptr<const cohort::crypto::Signer> signer;
  std::string cert_pem;
  {
    auto key_pem = cohort::crypto::ReadFile(config->tls.key);
    auto cert = cohort::crypto::ReadFile(config->tls.cert);
    if (!key_pem.ok() || !cert.ok()) {
      LogError({}, std::string((key_pem.ok() ? cert.status() : key_pem.status()).message()));
      return 2;
    }
    auto made = cohort::crypto::Signer::FromPrivateKeyPem(*key_pem);
    if (!made.ok()) {
      LogError({}, absl::StrCat(config->tls.key, ": ", made.status().message()));
      return 2;
    }
    signer = *std::move(made);
    cert_pem = *cert;
    auto opened = cohort::audit::OpenWithSettings(config->state_dir + "/audit/coordinator.jsonl",
                                                  signer, cert_pem, config->audit);
    if (!opened.ok()) {
      LogError({}, absl::StrCat("cannot open the audit log: ", opened.status().message()));
      return 3;
    }
    audit_log = *std::move(opened);
  }
  cohort::coordinator::SiteRegistry registry(cohort::util::RealClock::Get(),
                                             config->liveness_grace);
  cohort::coordinator::BlobStore blobs;
  std::string run_id;
  {
    unsigned char nonce[4];
    if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
      LogError({}, "cannot draw a run id from OpenSSL's RNG");
      return 3;
    }
    run_id = absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(nonce), 4));
  }
  std::vector<std::unique_ptr<cohort::coordinator::StudyRunner>> runners;
  std::vector<cohort::coordinator::StudyRunner*> runner_ptrs;
  for (auto& plan : plans) {
    runners.push_back(std::make_unique<cohort::coordinator::StudyRunner>(
        std::move(plan), cohort::coordinator::RunnerEnv{.registry = &registry,
                                                        .blobs = &blobs,
                                                        .clock = cohort::util::RealClock::Get(),
                                                        .state_dir = config->state_dir,
                                                        .ca_pem = *ca_pem,
                                                        .run_id = run_id,
                                                        .audit = audit_log.get(),
                                                        .signer = signer,
                                                        .cert_pem = cert_pem}));
    runner_ptrs.push_back(runners.back().get());
  }
  std::map<std::string, std::atomic<bool>> finished;
  for (auto* r : runner_ptrs) finished[r->plan().study_id] = false;

  cohort::coordinator::SiteServiceImpl service(
      &registry, &blobs, runner_ptrs,
      [&finished](const std::string& study) {
        auto it = finished.find(study);
        return it != finished.end() && it->second.load();
      });

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config->listen, *credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    LogError({}, absl::StrCat("cannot listen on ", config->listen));
    return 3;
  }
  LogInfo({}, absl::StrCat("listening on ", config->listen.substr(0, config->listen.rfind(':')),
                           ":", port, " (mutual TLS)"));
  if (!config->port_file.empty()) {
    if (auto s = cohort::crypto::WriteFileAtomically(config->port_file,
                                                     absl::StrCat(port, "\n"), 0644);
        !s.ok()) {
      LogError({}, std::string(s.message()));
      return 3;
    }
  }

  absl::Notification stop;
  std::atomic<bool> signalled{false};
  cohort::util::WatchTerminationSignals([&](int sig) {
    LogInfo({}, absl::StrCat("received signal ", sig, ", shutting down"));
    signalled = true;
    if (!stop.HasBeenNotified()) stop.Notify();
  });

  std::atomic<int> failed{0};
  std::atomic<int> remaining{static_cast<int>(runners.size())};
  std::vector<std::thread> threads;
  for (auto* runner : runner_ptrs) {
    threads.emplace_back([&, runner] {
      absl::Status status = runner->Run();
      if (!status.ok() && !absl::IsCancelled(status)) failed++;
      finished[runner->plan().study_id] = true;
      if (--remaining == 0 && config->exit_when_done && !stop.HasBeenNotified()) {
        LogInfo({}, "every study has finished");
        stop.Notify();
      }
    });
  }

  stop.WaitForNotification();
  for (auto* runner : runner_ptrs) runner->Stop();
  registry.Shutdown();
  if (!signalled) {
    // Let sites' open polls see that their studies have finished.
    absl::SleepFor(absl::Milliseconds(300));
  }
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  for (auto& t : threads) t.join();
  LogInfo({}, "coordinator stopped");
  return failed > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  cohort::util::BlockTerminationSignals();
  CLI::App app{"Cohort coordinator: runs federated studies for a hospital consortium"};
  std::string config_path, log_format = "text";
  app.add_option("--config", config_path, "coordinator YAML config")->required();
  app.add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);
  cohort::util::InitLogging("coordinator", *cohort::util::ParseLogFormat(log_format));
  return Main(config_path);
}
