// The coordinator's round logic with in-process fake sites (no gRPC): sites
// that misbehave are dropped with a reason and the study goes on; FedAvg is
// the example-weighted mean of the site deltas.
#include "coordinator/study_runner.h"

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cohort/v1/model.pb.h"
#include "common/ml/metrics.h"
#include "common/study/proto_convert.h"
#include "crypto/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::coordinator {
namespace {

using ::testing::HasSubstr;

constexpr char kPlan[] = R"(study_id: toy
sites: [a, b, c, d]
min_sites: 2
rounds: 2
round_deadline_seconds: 20
join_timeout_seconds: 20
max_round_retries: 0
model: {kind: logistic_regression, l2: 0}
training: {local_epochs: 1, batch_size: 4, optimizer: sgd, learning_rate: 0.1}
variables:
  - {name: x1, type: numeric}
  - {name: x2, type: numeric}
outcome: {name: y, type: binary}
secure_aggregation: {enabled: false}
privacy: {mode: off}
)";

// How a fake site answers a training task.
enum class Behaviour { kGood, kWrongShape, kNaN, kSilent, kRefuse };

class FakeSite {
 public:
  FakeSite(std::string name, Behaviour behaviour, double weight, double delta_value,
           SiteRegistry* registry, BlobStore* blobs, StudyRunner* runner)
      : name_(std::move(name)), behaviour_(behaviour), weight_(weight), delta_(delta_value),
        registry_(registry), blobs_(blobs), runner_(runner) {}

  void Run() {
    registry_->OnHello(name_);
    while (!stop_) {
      auto task = registry_->WaitForTask(name_, absl::Milliseconds(100), [] { return false; });
      if (!task.has_value()) continue;
      v1::TaskResult result;
      result.set_task_id(task->task_id());
      result.set_study_id(task->study_id());
      result.set_round(task->round());
      if (task->has_statistics()) {
        auto* s = result.mutable_statistics();
        s->set_num_train(10);
        s->set_num_test(5);
        for (int j = 0; j < 2; ++j) {
          s->add_count(10);
          s->add_sum(10.0 * (j + 1));
          s->add_sum_squares(10.0 * (j + 1) * (j + 1) + 10);
        }
      } else if (task->has_train()) {
        if (behaviour_ == Behaviour::kSilent) continue;
        if (behaviour_ == Behaviour::kRefuse) {
          result.mutable_refusal()->set_reason(v1::STUDY_NOT_APPROVED);
          result.mutable_refusal()->set_message("not approved here");
        } else {
          auto blob = blobs_->Get(task->train().global_model().sha256());
          EXPECT_NE(blob, nullptr);
          auto* c = result.mutable_train()->mutable_contribution();
          c->set_encoding(v1::EncodedContribution::PLAIN);
          auto* p = c->mutable_plain();
          const int dim = behaviour_ == Behaviour::kWrongShape ? 2 : 3;
          for (int j = 0; j < dim; ++j) p->add_weighted_delta(weight_ * delta_);
          if (behaviour_ == Behaviour::kNaN) p->set_weighted_delta(1, std::nan(""));
          p->set_weight(weight_);
          p->set_train_loss_sum(0.5 * weight_);
          ml::BinaryMetrics m;
          m.n = 2;
          m.correct = 1;
          m.true_positive = 1;
          m.false_positive = 1;
          m.positive_histogram.assign(1000, 0);
          m.negative_histogram.assign(1000, 0);
          m.positive_histogram[900] = 1;
          m.negative_histogram[600] = 1;
          *p->mutable_global_model_test_metrics() = study::ToProto(m);
        }
      } else if (task->has_evaluate()) {
        ml::BinaryMetrics m;
        m.n = 1;
        m.correct = 1;
        m.true_negative = 1;
        m.positive_histogram.assign(1000, 0);
        m.negative_histogram.assign(1000, 0);
        m.negative_histogram[10] = 1;
        for (int i = 0; i < task->evaluate().models_size(); ++i) {
          *result.mutable_evaluate()->add_metrics() = study::ToProto(m);
        }
      }
      (void)runner_->OnResult(name_, result);
    }
  }
  void Stop() { stop_ = true; }

 private:
  std::string name_;
  Behaviour behaviour_;
  double weight_, delta_;
  SiteRegistry* registry_;
  BlobStore* blobs_;
  StudyRunner* runner_;
  std::atomic<bool> stop_{false};
};

class StudyRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cohort-runner.XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs the toy study with the given fake sites; returns Run()'s status.
  absl::Status RunStudy(const std::vector<std::tuple<std::string, Behaviour, double, double>>& sites,
                        const std::string& plan_text = kPlan) {
    auto plan = study::ParseStudyPlan(plan_text, "toy.yaml");
    EXPECT_TRUE(plan.ok()) << plan.status();
    StudyRunner runner(*plan, {.registry = &registry_,
                               .blobs = &blobs_,
                               .clock = util::RealClock::Get(),
                               .state_dir = dir_});
    std::vector<std::unique_ptr<FakeSite>> fakes;
    std::vector<std::thread> threads;
    for (const auto& [name, behaviour, weight, delta] : sites) {
      fakes.push_back(std::make_unique<FakeSite>(name, behaviour, weight, delta, &registry_,
                                                 &blobs_, &runner));
    }
    for (auto& f : fakes) threads.emplace_back([&f] { f->Run(); });
    absl::Status status = runner.Run();
    for (auto& f : fakes) f->Stop();
    for (auto& t : threads) t.join();
    auto text = crypto::ReadFile(dir_ + "/studies/toy/summary.json");
    EXPECT_TRUE(text.ok());
    summary_ = nlohmann::json::parse(*text);
    return status;
  }

  std::vector<double> FinalModel() {
    auto bytes = crypto::ReadFile(dir_ + "/studies/toy/model.pb");
    EXPECT_TRUE(bytes.ok());
    v1::ModelParameters model;
    EXPECT_TRUE(model.ParseFromString(*bytes));
    return {model.values().begin(), model.values().end()};
  }

  std::string dir_;
  SiteRegistry registry_{util::RealClock::Get(), absl::Seconds(2)};
  BlobStore blobs_;
  nlohmann::json summary_;
};

TEST_F(StudyRunnerTest, FedAvgWeightsSitesByTheirExampleCounts) {
  // Site a: 1 example, delta 1.0; site b: 3 examples, delta 2.0.
  // Weighted mean delta = (1*1 + 3*2) / 4 = 1.75 per round; 2 rounds.
  ASSERT_TRUE(RunStudy({{"a", Behaviour::kGood, 1, 1.0}, {"b", Behaviour::kGood, 3, 2.0}}).ok())
      << summary_.dump(2);
  EXPECT_EQ(summary_["status"], "completed");
  for (double v : FinalModel()) EXPECT_NEAR(v, 3.5, 1e-12);
  // Pooled metrics are sums over sites: 2 sites x 2 test rows.
  EXPECT_EQ(summary_["rounds"][0]["test"]["n"], 4);
  EXPECT_DOUBLE_EQ(summary_["rounds"][0]["train_loss"].get<double>(), 0.5);
  // Global standardization from summed statistics: mean 1 and 2, std 1.
  EXPECT_DOUBLE_EQ(summary_["preprocessing"]["mean"][0].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(summary_["preprocessing"]["scale"][1].get<double>(), 1.0);
}

TEST_F(StudyRunnerTest, MalformedUpdatesAreDroppedAndTheRoundGoesOn) {
  ASSERT_TRUE(RunStudy({{"a", Behaviour::kGood, 2, 1.0},
                        {"b", Behaviour::kGood, 2, 1.0},
                        {"c", Behaviour::kWrongShape, 2, 50.0},
                        {"d", Behaviour::kNaN, 2, 50.0}})
                  .ok())
      << summary_.dump(2);
  const auto& round = summary_["rounds"][0];
  EXPECT_EQ(round["sites"], nlohmann::json({"a", "b"}));
  EXPECT_THAT(round["dropped"]["c"].get<std::string>(),
              HasSubstr("update has 2 values, the model has 3"));
  EXPECT_THAT(round["dropped"]["d"].get<std::string>(), HasSubstr("NaN"));
  // The bad updates did not leak into the model.
  for (double v : FinalModel()) EXPECT_NEAR(v, 2.0, 1e-12);
}

TEST_F(StudyRunnerTest, RefusingSiteIsExcludedFromTheStudy) {
  ASSERT_TRUE(RunStudy({{"a", Behaviour::kGood, 1, 1.0},
                        {"b", Behaviour::kGood, 1, 1.0},
                        {"c", Behaviour::kRefuse, 1, 1.0}})
                  .ok());
  EXPECT_THAT(summary_["refusals"]["c"].get<std::string>(), HasSubstr("STUDY_NOT_APPROVED"));
  EXPECT_EQ(summary_["rounds"][1]["sites"].size(), 2u);
  EXPECT_FALSE(summary_["rounds"][1].contains("dropped")) << "c is no longer asked";
}

TEST_F(StudyRunnerTest, TooFewSitesFailsTheStudyWithTheReason) {
  std::string plan = kPlan;
  plan.replace(plan.find("round_deadline_seconds: 20"), 26, "round_deadline_seconds: 1");
  absl::Status status = RunStudy({{"a", Behaviour::kGood, 1, 1.0},
                                  {"b", Behaviour::kSilent, 1, 1.0}},
                                 plan);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(summary_["status"], "failed");
  EXPECT_THAT(summary_["error"].get<std::string>(), HasSubstr("fewer than min_sites (2)"));
}

}  // namespace
}  // namespace cohort::coordinator
