// TaskExecutor on the real Cleveland extract, with models served from memory:
// statistics, training and evaluation return the aggregates the protocol
// promises; unapproved or malformed tasks are refused (an unapproved one
// before any data is read); a failed download is a transient error.
#include "site_agent/task_executor.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "cohort/v1/model.pb.h"
#include "common/study/proto_convert.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "crypto/files.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "site_agent/site_config.h"
#include "tests/common/util/temp_dir.h"
#include "tests/site_agent/example_site.h"

namespace cohort::site {
namespace {

using ::cohort::testing::ExamplePlanText;
using ::cohort::testing::RenderExampleSiteConfig;
using ::cohort::testing::TempDir;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// FLamby's Cleveland split after dropping rows with a missing value.
constexpr int kNumTrain = 199;
constexpr int kNumTest = 104;
constexpr int kFeatures = 13;  // encoded features of the heart-disease plan
constexpr int kBins = 1000;

// Serves blobs from memory by SHA-256 and records every request.
class FakeBlobFetcher final : public BlobFetcher {
 public:
  // Stores `bytes`; returns the reference a task would carry.
  v1::BlobRef Put(const std::string& bytes) {
    v1::BlobRef ref;
    ref.set_sha256(crypto::Sha256Hex(bytes));
    ref.set_size_bytes(static_cast<int64_t>(bytes.size()));
    blobs_[ref.sha256()] = bytes;
    return ref;
  }

  absl::StatusOr<std::string> Fetch(const v1::BlobRef& ref) override {
    requested_.push_back(ref.sha256());
    if (!fail_with_.ok()) return fail_with_;
    auto it = blobs_.find(ref.sha256());
    if (it == blobs_.end()) {
      ADD_FAILURE() << "asked for a blob no task referenced: " << ref.sha256();
      return absl::NotFoundError(ref.sha256());
    }
    return it->second;
  }

  void FailWith(absl::Status status) { fail_with_ = std::move(status); }
  const std::vector<std::string>& requested() const { return requested_; }

 private:
  std::map<std::string, std::string> blobs_;
  std::vector<std::string> requested_;
  absl::Status fail_with_;
};

std::string ModelBlob(const std::vector<double>& values) {
  v1::ModelParameters model;
  model.set_kind("logistic_regression");
  model.mutable_values()->Add(values.begin(), values.end());
  return model.SerializeAsString();
}

// Global standardization from the (here: one site's) statistics: population
// mean and standard deviation of each feature.
v1::Normalization NormalizationFrom(const v1::StatisticsResult& s) {
  v1::Normalization n;
  for (int j = 0; j < s.count_size(); ++j) {
    const double mean = s.sum(j) / s.count(j);
    const double var = s.sum_squares(j) / s.count(j) - mean * mean;
    n.add_mean(mean);
    n.add_scale(var > 1e-24 ? std::sqrt(var) : 1.0);
    n.add_impute(mean);
  }
  return n;
}

int64_t Total(const google::protobuf::RepeatedField<int64_t>& histogram) {
  return std::accumulate(histogram.begin(), histogram.end(), int64_t{0});
}

// The example plan with differential privacy off (the sites below allow it):
// these tests check the protocol's exact aggregates; DpTaskTest covers DP.
std::string NonPrivatePlanText() {
  std::string text = ExamplePlanText();
  EXPECT_NE(text.find("  mode: distributed\n"), std::string::npos);
  // The plain-FedAvg learning rate of the example before it used DP-SGD.
  return absl::StrReplaceAll(text, {{"  mode: distributed\n", "  mode: off\n"},
                                    {"learning_rate: 1.0\n", "learning_rate: 0.05\n"}});
}

// ...and with secure aggregation turned off: these tests exercise the plain
// path (the secure one runs end to end in tests/integration).
std::string PlainPlanText() {
  std::string text = NonPrivatePlanText();
  const std::string on = "secure_aggregation: {enabled: true,";
  EXPECT_NE(text.find(on), std::string::npos);
  return absl::StrReplaceAll(text, {{on, "secure_aggregation: {enabled: false,"}});
}

// The site's key material, where the example config expects it: the
// executor signs its audit log (and secure-aggregation keys) with it.
void WriteSitePki(const TempDir& dir, const std::string& site) {
  const absl::Time now = absl::Now() - absl::Hours(1);
  auto ca = crypto::CreateCertificateAuthority("test consortium", now, absl::Hours(24));
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto cert = crypto::IssueCertificate(*ca, crypto::Role::kSite, site, {}, now, absl::Hours(24));
  ASSERT_TRUE(cert.ok()) << cert.status();
  std::filesystem::create_directories(dir.Path("pki/sites"));
  ASSERT_TRUE(crypto::WriteFileAtomically(dir.Path("pki/ca.crt"), ca->cert_pem, 0644).ok());
  ASSERT_TRUE(
      crypto::WriteFileAtomically(dir.Path("pki/sites/" + site + ".crt"), cert->cert_pem, 0644)
          .ok());
  ASSERT_TRUE(
      crypto::WriteFileAtomically(dir.Path("pki/sites/" + site + ".key"), cert->key_pem, 0600)
          .ok());
}

class TaskExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteSitePki(dir_, "cleveland");
    plan_text_ = PlainPlanText();
    absl::StatusOr<SiteConfig> config = LoadSiteConfig(
        RenderExampleSiteConfig(dir_, "cleveland", crypto::Sha256Hex(plan_text_)));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    config_.privacy.allow_non_private = true;
    executor_ = std::make_unique<TaskExecutor>(config_, &fetcher_);
  }

  v1::Task BaseTask(const std::string& id, int round) const {
    v1::Task task;
    task.set_task_id(id);
    task.set_study_id("heart-disease");
    task.set_round(round);
    task.set_plan_yaml(plan_text_);
    task.set_plan_sha256(crypto::Sha256Hex(plan_text_));
    return task;
  }

  v1::Task StatisticsTask() const {
    v1::Task task = BaseTask("stats", 0);
    task.mutable_statistics();
    return task;
  }

  // Runs the statistics task and returns the normalization it implies.
  v1::Normalization GlobalNormalization() {
    absl::StatusOr<v1::TaskResult> result = executor_->Execute(StatisticsTask());
    EXPECT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result.ok() && result->has_statistics());
    return result.ok() ? NormalizationFrom(result->statistics()) : v1::Normalization();
  }

  v1::Task TrainTask(const v1::BlobRef& model, const v1::Normalization& normalization) const {
    v1::Task task = BaseTask("round-1/train", 1);
    *task.mutable_train()->mutable_global_model() = model;
    *task.mutable_train()->mutable_normalization() = normalization;
    task.mutable_train()->set_evaluate_global_model(true);
    return task;
  }

  // The refusal in `result`, failing the test if there is none.
  static v1::TaskRefusal RefusalIn(const absl::StatusOr<v1::TaskResult>& result) {
    EXPECT_TRUE(result.ok()) << "an error, not a refusal: " << result.status();
    EXPECT_TRUE(result.ok() && result->has_refusal()) << "not refused";
    return result.ok() ? result->refusal() : v1::TaskRefusal();
  }

  TempDir dir_;
  std::string plan_text_;
  SiteConfig config_;
  FakeBlobFetcher fetcher_;
  std::unique_ptr<TaskExecutor> executor_;
};

TEST_F(TaskExecutorTest, StatisticsCoverTheTrainingSplit) {
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(StatisticsTask());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->task_id(), "stats");
  EXPECT_EQ(result->study_id(), "heart-disease");
  EXPECT_EQ(result->round(), 0);
  ASSERT_TRUE(result->has_statistics()) << result->DebugString();
  const v1::StatisticsResult& s = result->statistics();
  EXPECT_EQ(s.num_train(), kNumTrain);
  EXPECT_EQ(s.num_test(), kNumTest);
  ASSERT_THAT(s.count(), SizeIs(kFeatures));
  ASSERT_THAT(s.sum(), SizeIs(kFeatures));
  ASSERT_THAT(s.sum_squares(), SizeIs(kFeatures));
  // No value is missing after drop_row: every feature counts every row.
  EXPECT_THAT(s.count(), Each(static_cast<double>(kNumTrain)));
  for (int j = 0; j < kFeatures; ++j) {
    EXPECT_TRUE(std::isfinite(s.sum(j))) << j;
    EXPECT_GE(s.sum_squares(j), 0) << j;
    // Cauchy-Schwarz: sum^2 <= n * sum of squares.
    EXPECT_LE(s.sum(j) * s.sum(j), kNumTrain * s.sum_squares(j) * (1 + 1e-12)) << j;
  }
  // Feature 0 is age (years); sex is binary, so its sum is a count of rows.
  EXPECT_GT(s.sum(0) / kNumTrain, 40);
  EXPECT_LT(s.sum(0) / kNumTrain, 70);
  EXPECT_EQ(s.sum(1), s.sum_squares(1));
  EXPECT_THAT(fetcher_.requested(), IsEmpty());
}

TEST_F(TaskExecutorTest, TrainingFromAZeroModelReturnsAPlainContribution) {
  const v1::Normalization normalization = GlobalNormalization();
  const v1::BlobRef zero = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures + 1, 0.0)));

  absl::StatusOr<v1::TaskResult> result = executor_->Execute(TrainTask(zero, normalization));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->task_id(), "round-1/train");
  EXPECT_EQ(result->round(), 1);
  ASSERT_TRUE(result->has_train()) << result->DebugString();
  EXPECT_THAT(fetcher_.requested(), ElementsAre(zero.sha256()));

  const v1::EncodedContribution& encoded = result->train().contribution();
  EXPECT_EQ(encoded.encoding(), v1::EncodedContribution::PLAIN);
  const v1::RoundContribution& c = encoded.plain();
  ASSERT_THAT(c.weighted_delta(), SizeIs(kFeatures + 1));
  EXPECT_EQ(c.weight(), kNumTrain);
  bool moved = false;
  for (double d : c.weighted_delta()) {
    EXPECT_TRUE(std::isfinite(d));
    moved = moved || d != 0;
  }
  EXPECT_TRUE(moved) << "training did not change the model";
  // The plan caps local training at 5 steps; from a zero model every
  // prediction is 1/2, so the training loss starts at ln 2 per example.
  EXPECT_EQ(result->train().local_steps(), 5);
  EXPECT_NEAR(c.train_loss_sum() / kNumTrain, std::log(2.0), 0.05);

  // The zero model, evaluated before training, scores every test row 1/2:
  // all in bin 500, all predicted positive.
  const v1::Metrics& m = c.global_model_test_metrics();
  EXPECT_TRUE(study::ValidateMetrics(m, kBins).ok()) << study::ValidateMetrics(m, kBins);
  EXPECT_EQ(m.n(), kNumTest);
  ASSERT_THAT(m.positive_histogram(), SizeIs(kBins));
  ASSERT_THAT(m.negative_histogram(), SizeIs(kBins));
  EXPECT_EQ(Total(m.positive_histogram()) + Total(m.negative_histogram()), kNumTest);
  EXPECT_EQ(m.positive_histogram(500) + m.negative_histogram(500), kNumTest);
  EXPECT_EQ(m.true_negative() + m.false_negative(), 0);
  EXPECT_EQ(m.correct(), m.true_positive());
  EXPECT_NEAR(m.loss_sum(), kNumTest * std::log(2.0), 1e-9);
}

TEST_F(TaskExecutorTest, TrainingWithoutGlobalEvaluationSendsEmptyMetrics) {
  const v1::Normalization normalization = GlobalNormalization();
  const v1::BlobRef zero = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures + 1, 0.0)));
  v1::Task task = TrainTask(zero, normalization);
  task.mutable_train()->set_evaluate_global_model(false);

  absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_train());
  const v1::Metrics& m = result->train().contribution().plain().global_model_test_metrics();
  EXPECT_EQ(m.n(), 0);
  EXPECT_TRUE(study::ValidateMetrics(m, kBins).ok());
}

TEST_F(TaskExecutorTest, EvaluateReturnsOneMetricsEntryPerModel) {
  const v1::Normalization normalization = GlobalNormalization();
  const v1::BlobRef zero = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures + 1, 0.0)));
  std::vector<double> tilted(kFeatures + 1, 0.0);
  tilted[kFeatures] = -3.0;  // bias only: every score sigmoid(-3) < 1/2
  const v1::BlobRef negative = fetcher_.Put(ModelBlob(tilted));

  v1::Task task = BaseTask("final/evaluate", 21);
  *task.mutable_evaluate()->add_models() = zero;
  *task.mutable_evaluate()->add_models() = negative;
  *task.mutable_evaluate()->mutable_normalization() = normalization;

  absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_evaluate()) << result->DebugString();
  EXPECT_THAT(fetcher_.requested(), ElementsAre(zero.sha256(), negative.sha256()));
  ASSERT_THAT(result->evaluate().metrics(), SizeIs(2));
  for (const v1::Metrics& m : result->evaluate().metrics()) {
    EXPECT_EQ(m.n(), kNumTest);
    EXPECT_TRUE(study::ValidateMetrics(m, kBins).ok()) << study::ValidateMetrics(m, kBins);
  }
  // In order: the zero model predicts every row positive, the other negative.
  EXPECT_EQ(result->evaluate().metrics(0).true_negative(), 0);
  EXPECT_EQ(result->evaluate().metrics(1).true_positive(), 0);
  EXPECT_EQ(result->evaluate().metrics(1).false_positive(), 0);
}

TEST_F(TaskExecutorTest, RoundOutsideThePlanIsAnInvalidTask) {
  // The example plan has 10 rounds: 2 * 10 + 1 is the last round it can use.
  for (int round : {-1, 22, 1000}) {
    v1::Task task = StatisticsTask();
    task.set_round(round);
    absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_TRUE(result->has_refusal()) << round;
    EXPECT_EQ(result->refusal().reason(), v1::INVALID_TASK);
    EXPECT_THAT(result->refusal().message(), HasSubstr("outside the plan (0..21)"));
  }
  v1::Task last = StatisticsTask();
  last.set_round(21);
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(last);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->has_refusal());
}

TEST_F(TaskExecutorTest, PlainTasksAreRefusedWhenThePlanRequiresSecureAggregation) {
  // Rebuild the executor around the example plan as shipped (secure
  // aggregation on): a coordinator asking for statistics or an update in the
  // clear is refused before anything is computed.
  plan_text_ = ExamplePlanText();
  absl::StatusOr<SiteConfig> config =
      LoadSiteConfig(RenderExampleSiteConfig(dir_, "cleveland", crypto::Sha256Hex(plan_text_)));
  ASSERT_TRUE(config.ok()) << config.status();
  config_ = *config;
  executor_ = std::make_unique<TaskExecutor>(config_, &fetcher_);
  v1::Task train = TrainTask(v1::BlobRef(), v1::Normalization());
  for (const v1::Task& task : {StatisticsTask(), train}) {
    absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_TRUE(result->has_refusal()) << result->DebugString();
    EXPECT_EQ(result->refusal().reason(), v1::INVALID_TASK);
    EXPECT_THAT(result->refusal().message(), HasSubstr("requires secure aggregation"));
  }
}

TEST_F(TaskExecutorTest, UnapprovedStudyIsRefused) {
  v1::Task task = StatisticsTask();
  task.set_study_id("other-study");
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
  v1::TaskRefusal refusal = RefusalIn(result);
  EXPECT_EQ(refusal.reason(), v1::STUDY_NOT_APPROVED);
  EXPECT_EQ(result->task_id(), "stats");
  EXPECT_EQ(result->study_id(), "other-study");
}

TEST_F(TaskExecutorTest, ChangedPlanIsRefused) {
  v1::Task task = StatisticsTask();
  task.set_plan_yaml(plan_text_ + "\n");
  EXPECT_EQ(RefusalIn(executor_->Execute(task)).reason(), v1::PLAN_HASH_MISMATCH);
}

// With the data file missing, an approved task reaches the data and fails
// there; an unapproved one is refused first, so its data is never read.
TEST(TaskExecutorDataTest, UnapprovedTaskIsRefusedBeforeTheDataIsRead) {
  TempDir dir;
  WriteSitePki(dir, "cleveland");
  const std::string plan_text = PlainPlanText();
  const std::string missing = dir.Path("no-such-extract.data");
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(RenderExampleSiteConfig(
      dir, "cleveland", crypto::Sha256Hex(plan_text),
      {{cohort::testing::ExampleDirAbsolute() + "/data/processed.cleveland.data", missing}}));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->data.resolved_path, missing);
  config->privacy.allow_non_private = true;
  FakeBlobFetcher fetcher;
  TaskExecutor executor(*config, &fetcher);

  v1::Task task;
  task.set_task_id("stats");
  task.set_plan_yaml(plan_text);
  task.mutable_statistics();

  task.set_study_id("heart-disease");
  absl::StatusOr<v1::TaskResult> approved = executor.Execute(task);
  ASSERT_TRUE(approved.ok()) << approved.status();
  ASSERT_TRUE(approved->has_refusal()) << approved->DebugString();
  EXPECT_EQ(approved->refusal().reason(), v1::DATA_ERROR);
  // Details of the local data stay at the site (its log), never in a result.
  EXPECT_THAT(approved->refusal().message(), HasSubstr("the site's log has the details"));
  EXPECT_THAT(approved->refusal().message(), ::testing::Not(HasSubstr(missing)));

  task.set_study_id("not-approved");
  absl::StatusOr<v1::TaskResult> unapproved = executor.Execute(task);
  ASSERT_TRUE(unapproved.ok()) << unapproved.status();
  ASSERT_TRUE(unapproved->has_refusal()) << unapproved->DebugString();
  EXPECT_EQ(unapproved->refusal().reason(), v1::STUDY_NOT_APPROVED);
  EXPECT_THAT(unapproved->refusal().message(), ::testing::Not(HasSubstr(missing)));
  EXPECT_THAT(fetcher.requested(), IsEmpty());
}

TEST_F(TaskExecutorTest, ModelOfTheWrongSizeIsAnInvalidTask) {
  const v1::Normalization normalization = GlobalNormalization();
  const v1::BlobRef short_model = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures, 0.0)));
  v1::TaskRefusal refusal = RefusalIn(executor_->Execute(TrainTask(short_model, normalization)));
  EXPECT_EQ(refusal.reason(), v1::INVALID_TASK);
  EXPECT_EQ(refusal.message(), "model has 13 values, the plan implies 14");
}

TEST_F(TaskExecutorTest, BlobThatIsNotAModelIsAnInvalidTask) {
  const v1::Normalization normalization = GlobalNormalization();
  const v1::BlobRef garbage = fetcher_.Put("not a model");
  v1::TaskRefusal refusal = RefusalIn(executor_->Execute(TrainTask(garbage, normalization)));
  EXPECT_EQ(refusal.reason(), v1::INVALID_TASK);
  EXPECT_EQ(refusal.message(), "blob " + garbage.sha256() + " is not a model");
}

TEST_F(TaskExecutorTest, ModelWithNaNIsAnInvalidTask) {
  const v1::Normalization normalization = GlobalNormalization();
  std::vector<double> values(kFeatures + 1, 0.0);
  values[3] = std::nan("");
  const v1::BlobRef bad = fetcher_.Put(ModelBlob(values));
  v1::TaskRefusal refusal = RefusalIn(executor_->Execute(TrainTask(bad, normalization)));
  EXPECT_EQ(refusal.reason(), v1::INVALID_TASK);
  EXPECT_EQ(refusal.message(), "model contains NaN or Inf");
}

TEST_F(TaskExecutorTest, NormalizationOfTheWrongSizeIsAnInvalidTask) {
  v1::Normalization normalization = GlobalNormalization();
  normalization.mutable_mean()->RemoveLast();
  normalization.mutable_scale()->RemoveLast();
  normalization.mutable_impute()->RemoveLast();
  const v1::BlobRef zero = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures + 1, 0.0)));
  v1::TaskRefusal refusal = RefusalIn(executor_->Execute(TrainTask(zero, normalization)));
  EXPECT_EQ(refusal.reason(), v1::INVALID_TASK);
  EXPECT_EQ(refusal.message(), "normalization has 12 features, the plan has 13");
}

TEST_F(TaskExecutorTest, TaskOfNoKindIsAnInvalidTask) {
  v1::TaskRefusal refusal = RefusalIn(executor_->Execute(BaseTask("empty", 1)));
  EXPECT_EQ(refusal.reason(), v1::INVALID_TASK);
  EXPECT_EQ(refusal.message(), "task of an unknown kind");
}

TEST_F(TaskExecutorTest, FailedDownloadIsATransientErrorNotARefusal) {
  const v1::Normalization normalization = GlobalNormalization();
  const v1::BlobRef zero = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures + 1, 0.0)));
  fetcher_.FailWith(absl::UnavailableError("coordinator went away"));
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(TrainTask(zero, normalization));
  ASSERT_FALSE(result.ok()) << "got a result: " << result->DebugString();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(fetcher_.requested(), ElementsAre(zero.sha256()));

  // Once the blob can be fetched, the retried task succeeds.
  fetcher_.FailWith(absl::OkStatus());
  absl::StatusOr<v1::TaskResult> retried = executor_->Execute(TrainTask(zero, normalization));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->has_train());
}

}  // namespace
}  // namespace cohort::site

namespace cohort::site {
namespace {

// The secure path's gatekeeping: a site takes part only in a round whose
// secure-aggregation context matches the plan it approved.
class SecureTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteSitePki(dir_, "cleveland");
    plan_text_ = NonPrivatePlanText();  // secure aggregation on, threshold 3, degree 3
    auto config = LoadSiteConfig(
        RenderExampleSiteConfig(dir_, "cleveland", crypto::Sha256Hex(plan_text_)));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    config_.privacy.allow_non_private = true;
    executor_ = std::make_unique<TaskExecutor>(config_, &fetcher_);
  }

  // Phase 0 of round 1 with the context the plan implies (13 features).
  v1::Task AdvertiseTask() const {
    v1::Task task;
    task.set_task_id("heart-disease/x/r1/a0/keys/cleveland");
    task.set_study_id("heart-disease");
    task.set_round(1);
    task.set_plan_yaml(plan_text_);
    v1::SecureAggregationTask* secure = task.mutable_secure();
    secure->set_phase(v1::PHASE_ADVERTISE_KEYS);
    v1::SecAggContext* c = secure->mutable_context();
    c->set_study_id("heart-disease");
    c->set_round(1);
    for (const char* s : {"cleveland", "hungarian", "switzerland", "va"}) c->add_participants(s);
    c->set_threshold(3);
    c->set_degree(3);
    c->set_bits(32);
    c->set_vector_length(14 + 2 + 7 + 2 * 1000);
    c->set_graph_seed(std::string(32, 'g'));
    return task;
  }

  TempDir dir_;
  std::string plan_text_;
  SiteConfig config_;
  FakeBlobFetcher fetcher_;
  std::unique_ptr<TaskExecutor> executor_;
};

TEST_F(SecureTaskTest, MatchingContextGetsSignedKeys) {
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(AdvertiseTask());
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_secure()) << result->DebugString();
  EXPECT_TRUE(result->secure().declined().empty()) << result->secure().declined();
  const v1::AdvertiseKeys& keys = result->secure().response().advertise_keys();
  EXPECT_EQ(keys.site(), "cleveland");
  EXPECT_EQ(keys.enc_public_key().size(), 32u);
  EXPECT_EQ(keys.mask_public_key().size(), 32u);
  EXPECT_FALSE(keys.signature().empty());
}

TEST_F(SecureTaskTest, UnmaskOfAnotherSiteSetForAnUnmaskedRoundIsDeclinedAfterARestart) {
  // What an earlier run of this agent recorded before releasing its shares.
  const std::string record = config_.state_dir + "/secure-aggregation/unmasked.json";
  std::filesystem::create_directories(std::filesystem::path(record).parent_path());
  ASSERT_TRUE(crypto::WriteFileAtomically(
                  record, R"({"heart-disease/1": ["cleveland", "hungarian", "switzerland", "va"]})",
                  0600)
                  .ok());
  v1::Task task = AdvertiseTask();
  task.set_task_id("heart-disease/y/r1/a1/unmask/cleveland");
  task.mutable_secure()->set_phase(v1::PHASE_UNMASK);
  for (const char* s : {"cleveland", "hungarian", "va"}) {
    task.mutable_secure()->mutable_request()->mutable_unmask()->add_survivors(s);
  }
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_secure()) << result->DebugString();
  EXPECT_FALSE(result->secure().has_response());
  EXPECT_THAT(result->secure().declined(),
              HasSubstr("already helped unmask a sum for this round over other sites"));
}

TEST_F(SecureTaskTest, UnreadableUnmaskRecordDeclinesRatherThanForgets) {
  const std::string record = config_.state_dir + "/secure-aggregation/unmasked.json";
  std::filesystem::create_directories(std::filesystem::path(record).parent_path());
  ASSERT_TRUE(crypto::WriteFileAtomically(record, "{not json", 0600).ok());
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(AdvertiseTask());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->secure().declined(), HasSubstr("cannot read its record"));
  EXPECT_FALSE(result->secure().has_response());
}

struct WeakenedContext {
  std::string name;
  std::function<void(v1::SecAggContext&)> edit;
  std::string message;
};

class WeakenedContextTest : public SecureTaskTest,
                            public ::testing::WithParamInterface<WeakenedContext> {};

TEST_P(WeakenedContextTest, IsRefused) {
  v1::Task task = AdvertiseTask();
  GetParam().edit(*task.mutable_secure()->mutable_context());
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(task);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_refusal()) << result->DebugString();
  EXPECT_EQ(result->refusal().reason(), v1::INVALID_TASK);
  EXPECT_THAT(result->refusal().message(), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    All, WeakenedContextTest,
    ::testing::ValuesIn(std::vector<WeakenedContext>{
        {"LowerThreshold", [](v1::SecAggContext& c) { c.set_threshold(2); },
         "threshold 2 differs from the plan's 3"},
        {"SmallerDegree", [](v1::SecAggContext& c) { c.set_degree(1); },
         "degree 1 differs"},
        {"FewerBits", [](v1::SecAggContext& c) { c.set_bits(16); }, "bits 16 should be 32"},
        {"OtherLength", [](v1::SecAggContext& c) { c.set_vector_length(15); },
         "vector length 15"},
        {"StrangerParticipant",
         [](v1::SecAggContext& c) { c.set_participants(3, "zz-stranger"); },
         "not in the plan"},
        {"WithoutThisSite",
         [](v1::SecAggContext& c) {
           c.clear_participants();
           for (const char* s : {"hungarian", "switzerland", "va"}) c.add_participants(s);
         },
         "this site is not a participant"},
        {"Unsorted", [](v1::SecAggContext& c) { c.set_participants(0, "va"); },
         "not sorted and unique"},
        {"OtherRound", [](v1::SecAggContext& c) { c.set_round(2); }, "another study or round"},
    }),
    [](const auto& info) { return info.param.name; });

// Differential privacy at the site: the example plan in local mode without
// secure aggregation, so releases come back in the clear and can be checked.
std::string LocalDpPlanText() {
  std::string text = ExamplePlanText();
  return absl::StrReplaceAll(text, {{"  mode: distributed\n", "  mode: local\n"},
                                    {"secure_aggregation: {enabled: true,",
                                     "secure_aggregation: {enabled: false,"},
                                    {"learning_rate: 1.0\n", "learning_rate: 0.05\n"}});
}

class DpTaskTest : public ::testing::Test {
 protected:
  void SetUp() override { Configure({}); }

  void Configure(const std::vector<std::pair<std::string, std::string>>& edits) {
    WriteSitePki(dir_, "cleveland");
    plan_text_ = LocalDpPlanText();
    absl::StatusOr<SiteConfig> config = LoadSiteConfig(
        RenderExampleSiteConfig(dir_, "cleveland", crypto::Sha256Hex(plan_text_), edits));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    executor_ = std::make_unique<TaskExecutor>(config_, &fetcher_);
  }

  v1::Task Task(const std::string& id, int round) const {
    v1::Task task;
    task.set_task_id(id);
    task.set_study_id("heart-disease");
    task.set_round(round);
    task.set_plan_yaml(plan_text_);
    task.set_plan_sha256(crypto::Sha256Hex(plan_text_));
    return task;
  }

  v1::Task Statistics(const std::string& id) const {
    v1::Task task = Task(id, 0);
    task.mutable_statistics();
    return task;
  }

  v1::Task Train(double records_per_site) {
    v1::Task task = Task("round-1/train", 1);
    v1::TrainTask* train = task.mutable_train();
    *train->mutable_global_model() = fetcher_.Put(ModelBlob(std::vector<double>(kFeatures + 1, 0.0)));
    for (int j = 0; j < kFeatures; ++j) {
      train->mutable_normalization()->add_mean(0);
      train->mutable_normalization()->add_scale(1);
      train->mutable_normalization()->add_impute(0);
    }
    train->set_evaluate_global_model(true);
    train->set_dp_records_per_site(records_per_site);
    return task;
  }

  std::vector<nlohmann::json> LedgerLines() const {
    std::vector<nlohmann::json> lines;
    std::istringstream in(ReadFileOrEmpty(config_.state_dir + "/privacy/ledger.jsonl"));
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  static std::string ReadFileOrEmpty(const std::string& path) {
    return crypto::ReadFile(path).value_or("");
  }

  TempDir dir_;
  std::string plan_text_;
  SiteConfig config_;
  FakeBlobFetcher fetcher_;
  std::unique_ptr<TaskExecutor> executor_;
};

TEST_F(DpTaskTest, EveryStatisticsReleaseIsNoisyAndChargedBeforeItLeaves) {
  absl::StatusOr<v1::TaskResult> first = executor_->Execute(Statistics("stats-1"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->has_statistics()) << first->DebugString();
  ASSERT_EQ(LedgerLines().size(), 1u);
  const nlohmann::json line = LedgerLines()[0];
  EXPECT_EQ(line["kind"], "statistics");
  EXPECT_EQ(line["release"], "stats-1");
  EXPECT_EQ(line["events"][0]["mechanism"], "gaussian");
  EXPECT_EQ(line["events"][0]["noise_multiplier"], 10.0);
  // The result tells the coordinator what the site's ledger now shows.
  EXPECT_GT(first->privacy_spend().epsilon(), 0);
  EXPECT_DOUBLE_EQ(first->privacy_spend().epsilon(), line["study_epsilon_after"].get<double>());
  EXPECT_EQ(first->privacy_spend().ceiling_epsilon(), 1.0);

  // A second release of the same statistics carries fresh noise and is
  // charged again.
  absl::StatusOr<v1::TaskResult> second = executor_->Execute(Statistics("stats-2"));
  ASSERT_TRUE(second.ok() && second->has_statistics());
  EXPECT_NE(first->statistics().sum(0), second->statistics().sum(0));
  ASSERT_EQ(LedgerLines().size(), 2u);
  EXPECT_GT(LedgerLines()[1]["study_epsilon_after"].get<double>(),
            LedgerLines()[0]["study_epsilon_after"].get<double>());
}

// What left the site is in its signed audit log before it leaves: the hash of
// the exact result bytes and what the release cost; the result carries the
// log's head as its anchor.
TEST_F(DpTaskTest, EveryResultIsRecordedInTheAuditLogBeforeItLeaves) {
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(Statistics("stats-1"));
  ASSERT_TRUE(result.ok()) << result.status();
  std::vector<nlohmann::json> entries;
  std::istringstream in(ReadFileOrEmpty(config_.state_dir + "/audit/site.jsonl"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    entries.push_back(nlohmann::json::parse(line));
  }
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0]["type"], "task_received");
  EXPECT_EQ(entries[0]["body"]["task_id"], "stats-1");
  EXPECT_EQ(entries[1]["type"], "result_sent");
  v1::TaskResult without_anchor = *result;
  without_anchor.clear_audit_anchor();
  EXPECT_EQ(entries[1]["body"]["sha256"], crypto::Sha256Hex(without_anchor.SerializeAsString()));
  EXPECT_EQ(entries[1]["body"]["privacy"]["study_epsilon_after"],
            absl::StrFormat("%.17g", result->privacy_spend().epsilon()));
  EXPECT_EQ(result->audit_anchor().seq(), 2);
  EXPECT_EQ(result->audit_anchor().head(), crypto::Sha256Hex(lines[1]));
  // No record count or data value is in the log.
  EXPECT_EQ(lines[1].find("num_train"), std::string::npos);
}

TEST_F(DpTaskTest, LocalTrainingSendsANoisyDeltaWithoutMetricsAndChargesEveryStep) {
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(Train(121));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_train()) << result->DebugString();
  const v1::RoundContribution& c = result->train().contribution().plain();
  EXPECT_EQ(c.weight(), 1.0);  // no record count leaves
  EXPECT_EQ(c.global_model_test_metrics().n(), 0);  // no per-round evaluation under DP
  EXPECT_EQ(c.train_loss_sum(), 0);
  EXPECT_EQ(result->train().local_steps(), 5);
  ASSERT_EQ(LedgerLines().size(), 1u);
  const nlohmann::json event = LedgerLines()[0]["events"][0];
  EXPECT_EQ(event["count"], 5);  // local_steps DP-SGD steps
  EXPECT_EQ(event["sampling_rate"], 1.0);
  EXPECT_EQ(event["noise_multiplier"], 15.3);
}

TEST_F(DpTaskTest, TrainTaskWithoutTheRecordCountIsInvalidAndNotCharged) {
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(Train(0));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_refusal());
  EXPECT_EQ(result->refusal().reason(), v1::INVALID_TASK);
  EXPECT_TRUE(LedgerLines().empty());
}

TEST_F(DpTaskTest, ReleaseOverTheCeilingIsRefusedBeforeTheDataIsRead) {
  const std::string missing = dir_.Path("no-such-extract.data");
  Configure({{"per_study: {epsilon: 1.0", "per_study: {epsilon: 0.05"},
             {cohort::testing::ExampleDirAbsolute() + "/data/processed.cleveland.data", missing}});
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(Statistics("stats"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_refusal()) << result->DebugString();
  // Refused for its budget, not for the (missing) data: no record was read.
  EXPECT_EQ(result->refusal().reason(), v1::PRIVACY_BUDGET_EXHAUSTED);
  EXPECT_THAT(result->refusal().message(),
              AllOf(HasSubstr("study heart-disease"), HasSubstr("above the site's ceiling of 0.05")));
  EXPECT_TRUE(LedgerLines().empty());
}

TEST_F(DpTaskTest, DeltaNotFarBelowOneOverTheRecordsIsRefused) {
  // Cleveland has 303 records: delta 0.01 would allow releasing three outright.
  Configure({{"per_study: {epsilon: 1.0, delta: 1e-5}", "per_study: {epsilon: 1.0, delta: 0.01}"},
             {"total: {epsilon: 3.0, delta: 1e-5}", "total: {epsilon: 3.0, delta: 0.01}"}});
  absl::StatusOr<v1::TaskResult> result = executor_->Execute(Statistics("stats"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_TRUE(result->has_refusal()) << result->DebugString();
  EXPECT_EQ(result->refusal().reason(), v1::INVALID_PLAN);
  EXPECT_THAT(result->refusal().message(), HasSubstr("delta 0.01 is not below 1 / the number"));
}

TEST_F(DpTaskTest, PlanWithoutDpIsRefusedUnlessTheSiteAllowsIt) {
  plan_text_ = PlainPlanText();  // privacy and secure aggregation off
  absl::StatusOr<SiteConfig> config = LoadSiteConfig(
      RenderExampleSiteConfig(dir_, "cleveland", crypto::Sha256Hex(plan_text_)));
  ASSERT_TRUE(config.ok());
  config_ = *std::move(config);
  executor_ = std::make_unique<TaskExecutor>(config_, &fetcher_);
  absl::StatusOr<v1::TaskResult> refused = executor_->Execute(Statistics("stats"));
  ASSERT_TRUE(refused.ok() && refused->has_refusal()) << refused.status();
  EXPECT_EQ(refused->refusal().reason(), v1::INVALID_PLAN);
  EXPECT_THAT(refused->refusal().message(), HasSubstr("allow_non_private"));

  config_.privacy.allow_non_private = true;
  executor_ = std::make_unique<TaskExecutor>(config_, &fetcher_);
  absl::StatusOr<v1::TaskResult> allowed = executor_->Execute(Statistics("stats"));
  ASSERT_TRUE(allowed.ok() && allowed->has_statistics());
  EXPECT_EQ(allowed->statistics().num_train(), kNumTrain);  // exact: no noise
  EXPECT_TRUE(LedgerLines().empty());
}

}  // namespace
}  // namespace cohort::site
