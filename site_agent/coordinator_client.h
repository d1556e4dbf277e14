// The site's gRPC connection to the coordinator. Sites only connect out:
// every call here is initiated by the site, over mutual TLS.
//
// Results are pushed in chunks and blobs fetched in chunks, so no message
// comes near gRPC's 4 MiB limit; fetched blobs are verified by SHA-256.
//
// Thread-safe (gRPC stubs are).
#ifndef COHORT_SITE_AGENT_COORDINATOR_CLIENT_H_
#define COHORT_SITE_AGENT_COORDINATOR_CLIENT_H_

#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cohort/v1/site_service.grpc.pb.h"
#include "common/net/tls.h"
#include "site_agent/task_executor.h"

namespace cohort::site {

absl::Status FromGrpcStatus(const grpc::Status& status);

class CoordinatorClient final : public BlobFetcher {
 public:
  // Bytes per pushed chunk; well under gRPC's 4 MiB default.
  static constexpr size_t kChunkBytes = 1 << 20;

  // InvalidArgument/NotFound if the TLS files cannot be read.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Create(
      const std::string& address, const std::string& server_name, const net::TlsFiles& tls);

  absl::StatusOr<v1::HelloResponse> Hello(absl::string_view agent_version);
  // A task, or nullopt when none arrived in `wait`. `finished` is set when the
  // coordinator says every study of this site has finished.
  absl::StatusOr<std::optional<v1::Task>> PullTask(absl::Duration wait, bool* finished);
  // Pushes a result; returns whether the coordinator already had it.
  absl::StatusOr<bool> PushResult(const v1::TaskResult& result);
  absl::StatusOr<std::string> Fetch(const v1::BlobRef& ref) override;

  // Cancels every call in progress (used on shutdown); later calls proceed.
  void CancelAll();

 private:
  explicit CoordinatorClient(std::shared_ptr<grpc::Channel> channel);

  // Registers a call's context so CancelAll() can reach it.
  class ActiveCall {
   public:
    ActiveCall(CoordinatorClient* client, grpc::ClientContext* context);
    ~ActiveCall();

   private:
    CoordinatorClient* client_;
    grpc::ClientContext* context_;
  };

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SiteService::Stub> stub_;
  absl::Mutex mu_;
  std::set<grpc::ClientContext*> active_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::site

#endif  // COHORT_SITE_AGENT_COORDINATOR_CLIENT_H_
