// The hospital's approval policy: only approved studies, only the exact plan
// bytes the hospital pinned; the hash the coordinator claims is never trusted.
#include "site_agent/approval.h"

#include <functional>
#include <ostream>
#include <string>
#include <variant>

#include "absl/strings/str_replace.h"
#include "crypto/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/site_agent/example_site.h"

namespace cohort::site {
namespace {

using ::cohort::testing::ExamplePlanText;
using ::testing::AllOf;
using ::testing::HasSubstr;

class ApprovalPolicyTest : public ::testing::Test {
 protected:
  ApprovalPolicyTest()
      : plan_text_(ExamplePlanText()),
        approved_hash_(crypto::Sha256Hex(plan_text_)),
        policy_({{.study_id = "heart-disease", .plan_sha256 = approved_hash_, .plan_path = ""}}) {}

  // A task of `study` carrying `plan`, claiming the approved hash.
  v1::Task TaskWith(const std::string& study, const std::string& plan) const {
    v1::Task task;
    task.set_task_id("t-1");
    task.set_study_id(study);
    task.set_round(1);
    task.set_plan_yaml(plan);
    task.set_plan_sha256(approved_hash_);
    task.mutable_statistics();
    return task;
  }

  static Refusal RefusalOf(const std::variant<study::StudyPlan, Refusal>& result) {
    const Refusal* refusal = std::get_if<Refusal>(&result);
    EXPECT_NE(refusal, nullptr) << "the task was accepted";
    return refusal != nullptr ? *refusal : Refusal{v1::REFUSAL_REASON_UNSPECIFIED, ""};
  }

  const std::string plan_text_;
  const std::string approved_hash_;
  const ApprovalPolicy policy_;
};

TEST_F(ApprovalPolicyTest, ApprovedStudyWithPinnedPlanIsAccepted) {
  auto result = policy_.Check(TaskWith("heart-disease", plan_text_));
  const study::StudyPlan* plan = std::get_if<study::StudyPlan>(&result);
  ASSERT_NE(plan, nullptr) << std::get<Refusal>(result).message;
  EXPECT_EQ(plan->study_id, "heart-disease");
  EXPECT_EQ(plan->sha256, approved_hash_);
  EXPECT_EQ(plan->text, plan_text_);
  EXPECT_EQ(plan->rounds, 10);
}

TEST_F(ApprovalPolicyTest, ClaimedHashIsInformationalOnly) {
  v1::Task task = TaskWith("heart-disease", plan_text_);
  task.set_plan_sha256(std::string(64, '0'));
  EXPECT_TRUE(std::holds_alternative<study::StudyPlan>(policy_.Check(task)));
}

TEST_F(ApprovalPolicyTest, UnknownStudyIsNotApproved) {
  Refusal refusal = RefusalOf(policy_.Check(TaskWith("other-study", plan_text_)));
  EXPECT_EQ(refusal.reason, v1::STUDY_NOT_APPROVED);
  EXPECT_EQ(refusal.message, "study 'other-study' is not in this site's approved_studies");
}

TEST_F(ApprovalPolicyTest, NothingIsApprovedByAnEmptyPolicy) {
  ApprovalPolicy empty({});
  Refusal refusal = RefusalOf(empty.Check(TaskWith("heart-disease", plan_text_)));
  EXPECT_EQ(refusal.reason, v1::STUDY_NOT_APPROVED);
}

// Each edit changes the plan's bytes by one byte.
struct OneByteEdit {
  std::string name;
  std::function<std::string(std::string)> edit;
  friend void PrintTo(const OneByteEdit& c, std::ostream* os) { *os << c.name; }
};

class PlanEditTest : public ApprovalPolicyTest,
                     public ::testing::WithParamInterface<OneByteEdit> {};

// The task claims the approved hash (a lying or buggy coordinator) while the
// text differs: the site hashes the text itself and refuses.
TEST_P(PlanEditTest, AnyChangedByteIsAHashMismatchDespiteTheClaimedHash) {
  const std::string edited = GetParam().edit(plan_text_);
  ASSERT_NE(edited, plan_text_);
  const v1::Task task = TaskWith("heart-disease", edited);
  ASSERT_EQ(task.plan_sha256(), approved_hash_);
  Refusal refusal = RefusalOf(policy_.Check(task));
  EXPECT_EQ(refusal.reason, v1::PLAN_HASH_MISMATCH);
  EXPECT_THAT(refusal.message, AllOf(HasSubstr(crypto::Sha256Hex(edited)),
                                     HasSubstr(approved_hash_), HasSubstr("heart-disease")));
}

const OneByteEdit kEdits[] = {
    {.name = "MoreRounds",
     .edit = [](std::string s) { return absl::StrReplaceAll(s, {{"rounds: 10", "rounds: 11"}}); }},
    {.name = "HigherLearningRate",
     .edit = [](std::string s) {
       return absl::StrReplaceAll(s, {{"learning_rate: 1.0", "learning_rate: 1.5"}});
     }},
    {.name = "FirstByte",
     .edit = [](std::string s) {
       s[0] = s[0] == '#' ? ' ' : '#';
       return s;
     }},
    {.name = "TrailingNewlineAdded", .edit = [](std::string s) { return s + "\n"; }},
    {.name = "LastByteDropped",
     .edit = [](std::string s) {
       s.pop_back();
       return s;
     }},
};

INSTANTIATE_TEST_SUITE_P(All, PlanEditTest, ::testing::ValuesIn(kEdits),
                         [](const ::testing::TestParamInfo<OneByteEdit>& info) {
                           return info.param.name;
                         });

TEST(ApprovalPolicyPlanTest, PlanOfAnotherStudyIsInvalid) {
  // The hospital pinned these bytes for "heart-disease", but they describe
  // another study: the task's study id and its plan must agree.
  const std::string other = absl::StrReplaceAll(
      cohort::testing::ExamplePlanText(), {{"study_id: heart-disease", "study_id: other"}});
  ApprovalPolicy policy({{.study_id = "heart-disease", .plan_sha256 = crypto::Sha256Hex(other), .plan_path = ""}});
  v1::Task task;
  task.set_study_id("heart-disease");
  task.set_plan_yaml(other);
  auto result = policy.Check(task);
  const Refusal* refusal = std::get_if<Refusal>(&result);
  ASSERT_NE(refusal, nullptr);
  EXPECT_EQ(refusal->reason, v1::INVALID_PLAN);
  EXPECT_EQ(refusal->message, "task names study 'heart-disease' but its plan is 'other'");
}

TEST(ApprovalPolicyPlanTest, PinnedButMalformedPlanIsInvalidNamingTheField) {
  const std::string bad = absl::StrReplaceAll(cohort::testing::ExamplePlanText(),
                                              {{"rounds: 10", "rounds: 0"}});
  ApprovalPolicy policy({{.study_id = "heart-disease", .plan_sha256 = crypto::Sha256Hex(bad), .plan_path = ""}});
  v1::Task task;
  task.set_study_id("heart-disease");
  task.set_plan_yaml(bad);
  auto result = policy.Check(task);
  const Refusal* refusal = std::get_if<Refusal>(&result);
  ASSERT_NE(refusal, nullptr);
  EXPECT_EQ(refusal->reason, v1::INVALID_PLAN);
  EXPECT_THAT(refusal->message,
              AllOf(HasSubstr("field 'rounds'"), HasSubstr("must be between 1 and 100000")));
}

}  // namespace
}  // namespace cohort::site
