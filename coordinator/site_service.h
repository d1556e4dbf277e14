// gRPC adapter for cohort.v1.SiteService: authenticates the caller from its
// mTLS certificate, converts messages and statuses, and hands everything else
// to the SiteRegistry, the BlobStore and the StudyRunners. No protocol logic
// lives here.
//
// Thread-safe (gRPC calls handlers concurrently).
#ifndef COHORT_COORDINATOR_SITE_SERVICE_H_
#define COHORT_COORDINATOR_SITE_SERVICE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cohort/v1/site_service.grpc.pb.h"
#include "coordinator/blob_store.h"
#include "coordinator/site_registry.h"
#include "coordinator/study_runner.h"

namespace cohort::coordinator {

// Converts an absl::Status to a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

class SiteServiceImpl final : public v1::SiteService::Service {
 public:
  // Chunks of blobs streamed to sites; well under gRPC's 4 MiB default.
  static constexpr int kChunkBytes = 1 << 20;
  // Largest result a site may push.
  static constexpr int64_t kMaxResultBytes = int64_t{256} << 20;

  // `runners` are not owned and must outlive the service.
  SiteServiceImpl(SiteRegistry* registry, BlobStore* blobs,
                  std::vector<StudyRunner*> runners,
                  std::function<bool(const std::string& study)> finished);

  grpc::Status Hello(grpc::ServerContext* context, const v1::HelloRequest* request,
                     v1::HelloResponse* response) override;
  grpc::Status PullTask(grpc::ServerContext* context, const v1::PullTaskRequest* request,
                        v1::PullTaskResponse* response) override;
  grpc::Status PushResult(grpc::ServerContext* context,
                          grpc::ServerReader<v1::ResultChunk>* reader,
                          v1::PushResultResponse* response) override;
  grpc::Status FetchBlob(grpc::ServerContext* context, const v1::FetchBlobRequest* request,
                         grpc::ServerWriter<v1::BlobChunk>* writer) override;

 private:
  // The calling site's name, if its certificate is a site's and it belongs
  // to at least one study; PermissionDenied otherwise (logged).
  absl::StatusOr<std::string> AuthorizeSite(const grpc::ServerContext& context) const;
  std::vector<std::string> StudiesOf(const std::string& site) const;

  SiteRegistry* registry_;
  BlobStore* blobs_;
  std::map<std::string, StudyRunner*> runners_;
  std::function<bool(const std::string&)> finished_;
};

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_SITE_SERVICE_H_
