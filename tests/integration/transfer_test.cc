// Large transfers over the real transport: an in-process SiteService gRPC
// server with mutual TLS on loopback (port 0) and the site agent's own
// CoordinatorClient, moving a 50 MB model in both directions with gRPC's
// default 4 MiB message limits left in place. A message sent whole would be
// refused (see UnchunkedMessageAboveFourMibIsRefused); everything here gets
// through only because FetchBlob and PushResult stream it in chunks.
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cohort/v1/model.pb.h"
#include "cohort/v1/tasks.pb.h"
#include "common/net/tls.h"
#include "common/study/study_plan.h"
#include "common/util/clock.h"
#include "coordinator/blob_store.h"
#include "coordinator/site_registry.h"
#include "coordinator/site_service.h"
#include "coordinator/study_runner.h"
#include "crypto/files.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "site_agent/coordinator_client.h"
#include "tests/integration/consortium.h"

namespace cohort::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kSite[] = "cleveland";       // in the example plan's site list
constexpr char kStranger[] = "stranger";    // a consortium member, in no study
constexpr int kModelValues = 6'500'000;     // 6.5M doubles: ~52 MB serialized
constexpr int64_t kGrpcDefaultLimit = int64_t{4} << 20;

// Deterministic values of varied sign and magnitude, so the serialized bytes
// neither compress nor repeat.
double ValueAt(int i) { return std::ldexp(std::sin(0.618 * i + 0.1), (i % 41) - 20); }

std::string FiftyMegabyteModel() {
  v1::ModelParameters model;
  model.set_kind("logistic_regression");
  model.mutable_values()->Reserve(kModelValues);
  for (int i = 0; i < kModelValues; ++i) model.add_values(ValueAt(i));
  return model.SerializeAsString();
}

// Fills `values` with `n` deterministic values.
void Fill(google::protobuf::RepeatedField<double>* values, int n, int offset) {
  values->Reserve(n);
  for (int i = 0; i < n; ++i) values->Add(ValueAt(i + offset));
}

// A PKI, the coordinator's site service on 127.0.0.1:0 with mutual TLS, and a
// StudyRunner for the heart-disease example plan (so `cleveland` is a
// participant). The runner is not started unless a test calls StartRunner().
class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cohort-xfer.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/pki");
    std::filesystem::create_directories(dir_ + "/state");

    const absl::Time not_before = absl::Now() - absl::Hours(1);
    auto ca = crypto::CreateCertificateAuthority("Cohort transfer test", not_before,
                                                 absl::Hours(48));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ASSERT_TRUE(crypto::WriteFileAtomically(CaPath(), ca->cert_pem, 0644).ok());
    IssueAndWrite(*ca, crypto::Role::kCoordinator, "localhost", {"localhost", "127.0.0.1"});
    IssueAndWrite(*ca, crypto::Role::kSite, kSite, {});
    IssueAndWrite(*ca, crypto::Role::kSite, kStranger, {});

    auto text = crypto::ReadFile(SourceDir() + "/examples/heart-disease/plan.yaml");
    ASSERT_TRUE(text.ok()) << text.status();
    auto plan = study::ParseStudyPlan(*text, "plan.yaml");
    ASSERT_TRUE(plan.ok()) << plan.status();
    // One site is enough to start, and a failed phase is not retried, so a
    // started runner hands out its first task as soon as `cleveland` says
    // hello and then finishes on its own.
    plan->min_sites = 1;
    plan->start_grace = absl::ZeroDuration();
    plan->max_round_retries = 0;
    // One site cannot be securely aggregated; this test is about transport.
    plan->secure_aggregation.enabled = false;
    plan->privacy.mode = study::StudyPlan::Privacy::Mode::kOff;

    registry_ = std::make_unique<coordinator::SiteRegistry>(util::RealClock::Get(),
                                                            absl::Seconds(60));
    runner_ = std::make_unique<coordinator::StudyRunner>(
        *std::move(plan), coordinator::RunnerEnv{.registry = registry_.get(),
                                                 .blobs = &blobs_,
                                                 .clock = util::RealClock::Get(),
                                                 .state_dir = dir_ + "/state"});
    service_ = std::make_unique<coordinator::SiteServiceImpl>(
        registry_.get(), &blobs_, std::vector<coordinator::StudyRunner*>{runner_.get()},
        [](const std::string&) { return false; });

    auto credentials = net::MakeServerCredentials(TlsFor(coordinator_cert_, coordinator_key_));
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *credentials, &port_);
    builder.RegisterService(service_.get());
    // Message size limits deliberately left at gRPC's defaults.
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
  }

  void TearDown() override {
    if (runner_) runner_->Stop();
    if (registry_) registry_->Shutdown();
    if (runner_thread_.joinable()) runner_thread_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string CaPath() const { return dir_ + "/pki/ca.crt"; }

  void IssueAndWrite(const crypto::Credential& ca, crypto::Role role, const std::string& name,
                     const std::vector<std::string>& hostnames) {
    auto cred = crypto::IssueCertificate(ca, role, name, hostnames, absl::Now() - absl::Hours(1),
                                         absl::Hours(48));
    ASSERT_TRUE(cred.ok()) << cred.status();
    const std::string base = absl::StrCat(dir_, "/pki/", name);
    ASSERT_TRUE(crypto::WriteFileAtomically(base + ".crt", cred->cert_pem, 0644).ok());
    ASSERT_TRUE(crypto::WriteFileAtomically(base + ".key", cred->key_pem, 0600).ok());
    if (role == crypto::Role::kCoordinator) {
      coordinator_cert_ = base + ".crt";
      coordinator_key_ = base + ".key";
    }
  }

  net::TlsFiles TlsFor(const std::string& cert, const std::string& key) const {
    return {CaPath(), cert, key};
  }

  // A client dialing "localhost" (checked against the coordinator's DNS SAN)
  // with `site`'s certificate.
  std::unique_ptr<site::CoordinatorClient> ClientFor(const std::string& site) {
    const std::string base = absl::StrCat(dir_, "/pki/", site);
    auto client = site::CoordinatorClient::Create(absl::StrCat("localhost:", port_), "",
                                                  TlsFor(base + ".crt", base + ".key"));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  void StartRunner() {
    runner_thread_ = std::thread([this] {
      runner_status_ = runner_->Run();
      runner_done_.Notify();
    });
  }

  // The runner's result, or DeadlineExceeded if it is still running after
  // `within` (TearDown then stops it).
  absl::Status JoinRunner(absl::Duration within) {
    if (!runner_done_.WaitForNotificationWithTimeout(within)) {
      return absl::DeadlineExceededError("the study runner is still running");
    }
    runner_thread_.join();
    return runner_status_;
  }

  // Long-polls until the coordinator hands `client` a task.
  absl::StatusOr<v1::Task> PullOneTask(site::CoordinatorClient& client, absl::Duration within) {
    const absl::Time deadline = absl::Now() + within;
    while (absl::Now() < deadline) {
      bool finished = false;
      auto task = client.PullTask(absl::Seconds(5), &finished);
      if (!task.ok()) return task.status();
      if (task->has_value()) return **task;
    }
    return absl::DeadlineExceededError("no task arrived");
  }

  std::string dir_;
  std::string coordinator_cert_, coordinator_key_;
  coordinator::BlobStore blobs_;
  std::unique_ptr<coordinator::SiteRegistry> registry_;
  std::unique_ptr<coordinator::StudyRunner> runner_;
  std::unique_ptr<coordinator::SiteServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread runner_thread_;
  absl::Notification runner_done_;
  absl::Status runner_status_;
};

TEST_F(TransferTest, UnchunkedMessageAboveFourMibIsRefused) {
  // The control for every test below: this server keeps gRPC's default 4 MiB
  // receive limit, so a single 5 MiB message does not get through.
  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto hello = client->Hello(std::string(5 << 20, 'x'));
  EXPECT_EQ(hello.status().code(), absl::StatusCode::kResourceExhausted) << hello.status();
}

TEST_F(TransferTest, FetchBlobDelivers50MbModelIntact) {
  const std::string model = FiftyMegabyteModel();
  ASSERT_GT(static_cast<int64_t>(model.size()), 12 * kGrpcDefaultLimit);
  const std::string sha256 = crypto::Sha256Hex(model);
  const v1::BlobRef ref = blobs_.Put(model);
  ASSERT_EQ(ref.sha256(), sha256);
  ASSERT_EQ(ref.size_bytes(), static_cast<int64_t>(model.size()));

  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto fetched = client->Fetch(ref);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->size(), model.size());
  EXPECT_EQ(crypto::Sha256Hex(*fetched), sha256);
  EXPECT_TRUE(*fetched == model);  // not EXPECT_EQ: never print 50 MB

  v1::ModelParameters parsed;
  ASSERT_TRUE(parsed.ParseFromString(*fetched));
  ASSERT_EQ(parsed.values_size(), kModelValues);
  EXPECT_EQ(parsed.values(kModelValues - 1), ValueAt(kModelValues - 1));
}

TEST_F(TransferTest, FetchBlobWithUnknownSha256IsNotFound) {
  const v1::BlobRef stored = blobs_.Put(FiftyMegabyteModel());
  v1::BlobRef ref = stored;
  std::string wrong = ref.sha256();
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  ref.set_sha256(wrong);

  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto fetched = client->Fetch(ref);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kNotFound) << fetched.status();
  EXPECT_THAT(fetched.status().message(), HasSubstr(wrong));
}

TEST_F(TransferTest, FetchBlobWhoseRefUnderstatesItsSizeIsDataLoss) {
  const v1::BlobRef stored = blobs_.Put(FiftyMegabyteModel());
  v1::BlobRef ref = stored;
  ref.set_size_bytes(stored.size_bytes() - 1);

  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto fetched = client->Fetch(ref);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss) << fetched.status();
  EXPECT_THAT(fetched.status().message(), HasSubstr(stored.sha256()));
}

TEST_F(TransferTest, FetchBlobWhoseRefOverstatesItsSizeIsDataLoss) {
  const v1::BlobRef stored = blobs_.Put(FiftyMegabyteModel());
  v1::BlobRef ref = stored;
  ref.set_size_bytes(stored.size_bytes() + 1);

  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto fetched = client->Fetch(ref);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss) << fetched.status();
  EXPECT_THAT(fetched.status().message(), HasSubstr(stored.sha256()));
}

TEST_F(TransferTest, PushResultOf50MbReachesTheStudyRunner) {
  // No round is open, so the runner awaits no task: FailedPrecondition from
  // StudyRunner::OnResult is only reachable after the service has received
  // every chunk, checked the size and SHA-256 and parsed the TaskResult (a
  // broken chunking path ends in ResourceExhausted, InvalidArgument or
  // DataLoss instead).
  v1::TaskResult result;
  result.set_task_id("heart-disease/r1/a0/train/cleveland");
  result.set_study_id("heart-disease");
  result.set_round(1);
  auto* plain = result.mutable_train()->mutable_contribution()->mutable_plain();
  result.mutable_train()->mutable_contribution()->set_encoding(v1::EncodedContribution::PLAIN);
  Fill(plain->mutable_weighted_delta(), kModelValues, 0);
  plain->set_weight(303);
  ASSERT_GT(static_cast<int64_t>(result.ByteSizeLong()), 12 * kGrpcDefaultLimit);

  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto pushed = client->PushResult(result);
  EXPECT_EQ(pushed.status().code(), absl::StatusCode::kFailedPrecondition) << pushed.status();
  EXPECT_THAT(pushed.status().message(),
              HasSubstr("task heart-disease/r1/a0/train/cleveland is not awaited"));
}

TEST_F(TransferTest, PushResultOf50MbForAnAwaitedTaskIsAcceptedOnce) {
  StartRunner();
  auto client = ClientFor(kSite);
  ASSERT_NE(client, nullptr);
  auto hello = client->Hello("transfer-test");
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->site(), kSite);
  EXPECT_THAT(hello->studies(), ::testing::ElementsAre("heart-disease"));

  // The runner starts with federated preprocessing: one statistics task.
  auto task = PullOneTask(*client, absl::Seconds(30));
  ASSERT_TRUE(task.ok()) << task.status();
  ASSERT_TRUE(task->has_statistics()) << task->DebugString();

  // A result far wider than the plan's 13 encoded features, so that the runner can
  // only have counted them if every chunk arrived.
  constexpr int kFeatures = kModelValues / 3;
  v1::TaskResult result;
  result.set_task_id(task->task_id());
  result.set_study_id(task->study_id());
  result.set_round(task->round());
  auto* stats = result.mutable_statistics();
  stats->set_num_train(kFeatures);
  Fill(stats->mutable_count(), kFeatures, 0);
  Fill(stats->mutable_sum(), kFeatures, kFeatures);
  Fill(stats->mutable_sum_squares(), kFeatures, 2 * kFeatures);
  ASSERT_GT(static_cast<int64_t>(result.ByteSizeLong()), 12 * kGrpcDefaultLimit);

  auto first = client->PushResult(result);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(*first) << "the first push must not be a duplicate";
  auto second = client->PushResult(result);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(*second) << "a repeated push of the same task must be a duplicate";

  // The runner received the result, dropped cleveland for sending statistics
  // of the wrong width, and (no retries, min_sites 1) ends preprocessing.
  absl::Status run = JoinRunner(absl::Seconds(30));
  EXPECT_EQ(run.code(), absl::StatusCode::kUnavailable) << run;
  EXPECT_THAT(run.message(), HasSubstr("preprocessing"));
}

TEST_F(TransferTest, SiteOutsideThePlanIsRefused) {
  const v1::BlobRef ref = blobs_.Put("a model");
  auto client = ClientFor(kStranger);
  ASSERT_NE(client, nullptr);

  auto hello = client->Hello("transfer-test");
  EXPECT_EQ(hello.status().code(), absl::StatusCode::kPermissionDenied) << hello.status();
  EXPECT_THAT(hello.status().message(), HasSubstr("site 'stranger'"));
  // Nor may it download what the study's sites download.
  auto fetched = client->Fetch(ref);
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kPermissionDenied) << fetched.status();
}

}  // namespace
}  // namespace cohort::testing
