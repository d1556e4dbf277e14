#include "coordinator/site_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/net/tls.h"
#include "common/util/logging.h"
#include "crypto/sha256.h"

namespace cohort::coordinator {
namespace {
constexpr char kVersion[] = "cohort-coordinator 0.1.0";
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

SiteServiceImpl::SiteServiceImpl(SiteRegistry* registry, BlobStore* blobs,
                                 std::vector<StudyRunner*> runners,
                                 std::function<bool(const std::string&)> finished)
    : registry_(registry), blobs_(blobs), finished_(std::move(finished)) {
  for (StudyRunner* r : runners) runners_[r->plan().study_id] = r;
}

std::vector<std::string> SiteServiceImpl::StudiesOf(const std::string& site) const {
  std::vector<std::string> out;
  for (const auto& [id, runner] : runners_) {
    if (runner->plan().HasSite(site)) out.push_back(id);
  }
  return out;
}

absl::StatusOr<std::string> SiteServiceImpl::AuthorizeSite(
    const grpc::ServerContext& context) const {
  auto identity = net::PeerIdentityOf(context);
  if (!identity.ok()) {
    util::LogWarn({}, absl::StrCat("refused call from ", context.peer(), ": ",
                                   identity.status().message()));
    return absl::PermissionDeniedError(identity.status().message());
  }
  if (identity->role != crypto::Role::kSite) {
    util::LogWarn({}, absl::StrCat("refused call from ", context.peer(), ": certificate of '",
                                   identity->name, "' is not a site certificate"));
    return absl::PermissionDeniedError("only site certificates may call SiteService");
  }
  if (StudiesOf(identity->name).empty()) {
    util::LogWarn({"", -1, identity->name},
                  "refused site: not a participant of any study on this coordinator");
    return absl::PermissionDeniedError(absl::StrCat(
        "site '", identity->name, "' is not a participant of any study on this coordinator"));
  }
  return identity->name;
}

grpc::Status SiteServiceImpl::Hello(grpc::ServerContext* context,
                                    const v1::HelloRequest* request,
                                    v1::HelloResponse* response) {
  auto site = AuthorizeSite(*context);
  if (!site.ok()) return ToGrpcStatus(site.status());
  registry_->OnHello(*site);
  response->set_coordinator_version(kVersion);
  response->set_site(*site);
  response->set_max_chunk_bytes(kChunkBytes);
  for (const std::string& s : StudiesOf(*site)) response->add_studies(s);
  util::LogInfo({"", -1, *site}, absl::StrCat("site joined (", request->agent_version(),
                                              ") from ", context->peer()));
  return grpc::Status::OK;
}

grpc::Status SiteServiceImpl::PullTask(grpc::ServerContext* context,
                                       const v1::PullTaskRequest* request,
                                       v1::PullTaskResponse* response) {
  auto site = AuthorizeSite(*context);
  if (!site.ok()) return ToGrpcStatus(site.status());
  const int wait_ms = std::clamp(request->wait_ms(), 0, 60000);
  std::optional<v1::Task> task = registry_->WaitForTask(
      *site, absl::Milliseconds(wait_ms), [context] { return context->IsCancelled(); });
  if (task.has_value()) {
    *response->mutable_task() = std::move(*task);
  } else {
    bool all_done = true;
    for (const std::string& study : StudiesOf(*site)) all_done = all_done && finished_(study);
    response->set_all_studies_finished(all_done);
  }
  return grpc::Status::OK;
}

grpc::Status SiteServiceImpl::PushResult(grpc::ServerContext* context,
                                         grpc::ServerReader<v1::ResultChunk>* reader,
                                         v1::PushResultResponse* response) {
  auto site = AuthorizeSite(*context);
  if (!site.ok()) return ToGrpcStatus(site.status());
  v1::ResultChunk chunk;
  if (!reader->Read(&chunk) || !chunk.has_header()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first chunk of a result must carry its header");
  }
  const v1::ResultHeader header = chunk.header();
  if (header.total_bytes() < 0 || header.total_bytes() > kMaxResultBytes) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("result size ", header.total_bytes(), " is out of range"));
  }
  std::string bytes;
  // The header is the site's claim; grow with what actually arrives.
  bytes.reserve(static_cast<size_t>(std::min<int64_t>(header.total_bytes(), 8 << 20)));
  crypto::Sha256Hasher hasher;
  do {
    if (static_cast<int64_t>(bytes.size() + chunk.data().size()) > header.total_bytes()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "result is longer than its header says");
    }
    hasher.Update(chunk.data());
    bytes.append(chunk.data());
  } while (reader->Read(&chunk));
  if (static_cast<int64_t>(bytes.size()) != header.total_bytes()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("result is truncated: ", bytes.size(), " of ",
                                     header.total_bytes(), " bytes"));
  }
  if (hasher.FinalHex() != header.sha256()) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS, "result does not match its SHA-256");
  }
  v1::TaskResult result;
  if (!result.ParseFromString(bytes)) {
    util::LogWarn({"", -1, *site}, "malformed result message");
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "result is not a TaskResult");
  }
  if (result.task_id() != header.task_id()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "result task id does not match its header");
  }
  auto runner = runners_.find(result.study_id());
  if (runner == runners_.end() || !runner->second->plan().HasSite(*site)) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no study '", result.study_id(), "' for this site"));
  }
  absl::Status status = runner->second->OnResult(*site, std::move(result));
  if (absl::IsAlreadyExists(status)) {
    response->set_duplicate(true);
    return grpc::Status::OK;
  }
  return ToGrpcStatus(status);
}

grpc::Status SiteServiceImpl::FetchBlob(grpc::ServerContext* context,
                                        const v1::FetchBlobRequest* request,
                                        grpc::ServerWriter<v1::BlobChunk>* writer) {
  auto site = AuthorizeSite(*context);
  if (!site.ok()) return ToGrpcStatus(site.status());
  std::shared_ptr<const std::string> blob = blobs_->Get(request->sha256());
  if (blob == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no blob ", request->sha256()));
  }
  const int64_t total = static_cast<int64_t>(blob->size());
  int64_t offset = 0;
  do {
    v1::BlobChunk chunk;
    chunk.set_offset(offset);
    chunk.set_total_bytes(total);
    const int64_t n = std::min<int64_t>(kChunkBytes, total - offset);
    chunk.set_data(blob->substr(static_cast<size_t>(offset), static_cast<size_t>(n)));
    if (!writer->Write(chunk)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "site went away");
    }
    offset += n;
  } while (offset < total);
  return grpc::Status::OK;
}

}  // namespace cohort::coordinator
