#include "site_agent/approval.h"

#include "absl/strings/str_cat.h"
#include "crypto/sha256.h"

namespace cohort::site {

ApprovalPolicy::ApprovalPolicy(std::vector<ApprovedStudy> approved)
    : approved_(std::move(approved)) {}

std::variant<study::StudyPlan, Refusal> ApprovalPolicy::Check(const v1::Task& task) const {
  const ApprovedStudy* entry = nullptr;
  for (const auto& a : approved_) {
    if (a.study_id == task.study_id()) entry = &a;
  }
  if (entry == nullptr) {
    return Refusal{v1::STUDY_NOT_APPROVED,
                   absl::StrCat("study '", task.study_id(),
                                "' is not in this site's approved_studies")};
  }
  const std::string actual = crypto::Sha256Hex(task.plan_yaml());
  if (actual != entry->plan_sha256) {
    return Refusal{v1::PLAN_HASH_MISMATCH,
                   absl::StrCat("plan of study '", task.study_id(), "' has SHA-256 ", actual,
                                " but the approved plan has ", entry->plan_sha256)};
  }
  auto plan = study::ParseStudyPlan(task.plan_yaml(), absl::StrCat("plan of ", task.study_id()));
  if (!plan.ok()) {
    return Refusal{v1::INVALID_PLAN, std::string(plan.status().message())};
  }
  if (plan->study_id != task.study_id()) {
    return Refusal{v1::INVALID_PLAN,
                   absl::StrCat("task names study '", task.study_id(), "' but its plan is '",
                                plan->study_id, "'")};
  }
  return *std::move(plan);
}

}  // namespace cohort::site
