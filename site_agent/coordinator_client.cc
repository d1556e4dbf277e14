#include "site_agent/coordinator_client.h"

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/sha256.h"

namespace cohort::site {

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Create(
    const std::string& address, const std::string& server_name, const net::TlsFiles& tls) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   net::MakeChannelCredentials(tls));
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  // Reconnection is paced by the agent's own backoff; keep gRPC's short.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  return std::unique_ptr<CoordinatorClient>(
      new CoordinatorClient(grpc::CreateCustomChannel(address, credentials, args)));
}

CoordinatorClient::CoordinatorClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(v1::SiteService::NewStub(channel_)) {}

CoordinatorClient::ActiveCall::ActiveCall(CoordinatorClient* client,
                                          grpc::ClientContext* context)
    : client_(client), context_(context) {
  absl::MutexLock lock(&client_->mu_);
  client_->active_.insert(context_);
}

CoordinatorClient::ActiveCall::~ActiveCall() {
  absl::MutexLock lock(&client_->mu_);
  client_->active_.erase(context_);
}

void CoordinatorClient::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (grpc::ClientContext* context : active_) context->TryCancel();
}

absl::StatusOr<v1::HelloResponse> CoordinatorClient::Hello(absl::string_view agent_version) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ActiveCall active(this, &context);
  v1::HelloRequest request;
  request.set_agent_version(std::string(agent_version));
  request.add_capabilities("train:logistic_regression");
  request.add_capabilities("statistics");
  request.add_capabilities("evaluate");
  v1::HelloResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->Hello(&context, request, &response)));
  return response;
}

absl::StatusOr<std::optional<v1::Task>> CoordinatorClient::PullTask(absl::Duration wait,
                                                                    bool* finished) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(wait + absl::Seconds(10)));
  ActiveCall active(this, &context);
  v1::PullTaskRequest request;
  request.set_wait_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(wait)));
  v1::PullTaskResponse response;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->PullTask(&context, request, &response)));
  if (finished != nullptr) *finished = response.all_studies_finished();
  if (!response.has_task()) return std::optional<v1::Task>();
  return std::optional<v1::Task>(response.task());
}

absl::StatusOr<bool> CoordinatorClient::PushResult(const v1::TaskResult& result) {
  const std::string bytes = result.SerializeAsString();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  ActiveCall active(this, &context);
  v1::PushResultResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::ResultChunk>> writer =
      stub_->PushResult(&context, &response);
  size_t offset = 0;
  bool first = true;
  do {
    v1::ResultChunk chunk;
    if (first) {
      chunk.mutable_header()->set_task_id(result.task_id());
      chunk.mutable_header()->set_total_bytes(static_cast<int64_t>(bytes.size()));
      chunk.mutable_header()->set_sha256(crypto::Sha256Hex(bytes));
      first = false;
    }
    const size_t n = std::min(kChunkBytes, bytes.size() - offset);
    chunk.set_data(bytes.substr(offset, n));
    offset += n;
    if (!writer->Write(chunk)) break;  // the server ended the call; Finish says why
  } while (offset < bytes.size());
  writer->WritesDone();
  RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  return response.duplicate();
}

absl::StatusOr<std::string> CoordinatorClient::Fetch(const v1::BlobRef& ref) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  ActiveCall active(this, &context);
  v1::FetchBlobRequest request;
  request.set_sha256(ref.sha256());
  std::unique_ptr<grpc::ClientReader<v1::BlobChunk>> reader = stub_->FetchBlob(&context, request);
  std::string bytes;
  crypto::Sha256Hasher hasher;
  v1::BlobChunk chunk;
  while (reader->Read(&chunk)) {
    if (chunk.offset() != static_cast<int64_t>(bytes.size()) ||
        chunk.total_bytes() != ref.size_bytes() ||
        static_cast<int64_t>(bytes.size() + chunk.data().size()) > ref.size_bytes()) {
      context.TryCancel();
      reader->Finish();
      return absl::DataLossError(absl::StrCat("blob ", ref.sha256(), ": inconsistent chunk"));
    }
    hasher.Update(chunk.data());
    bytes.append(chunk.data());
  }
  RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  if (static_cast<int64_t>(bytes.size()) != ref.size_bytes()) {
    return absl::DataLossError(absl::StrCat("blob ", ref.sha256(), ": got ", bytes.size(),
                                            " of ", ref.size_bytes(), " bytes"));
  }
  if (hasher.FinalHex() != ref.sha256()) {
    return absl::DataLossError(absl::StrCat("blob ", ref.sha256(),
                                            ": content does not match its SHA-256"));
  }
  return bytes;
}

}  // namespace cohort::site
