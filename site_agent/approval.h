// The hospital's approval policy: which studies this site takes part in.
//
// A study is approved by id and pinned by the SHA-256 of its plan file, as
// reviewed by the hospital. A task from any other study, or carrying a plan
// whose bytes hash differently, is refused before any data is read. The hash
// is computed here from the plan text in the task; the hash the coordinator
// claims is never trusted.
//
// Immutable after construction; thread-safe.
#ifndef COHORT_SITE_AGENT_APPROVAL_H_
#define COHORT_SITE_AGENT_APPROVAL_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "cohort/v1/tasks.pb.h"
#include "common/study/study_plan.h"
#include "site_agent/site_config.h"

namespace cohort::site {

// Why a task was refused, in the form reported to the coordinator.
struct Refusal {
  v1::RefusalReason reason;
  std::string message;
};

class ApprovalPolicy {
 public:
  explicit ApprovalPolicy(std::vector<ApprovedStudy> approved);

  // The parsed plan if the task's study is approved and its plan matches the
  // pinned hash; otherwise the refusal.
  std::variant<study::StudyPlan, Refusal> Check(const v1::Task& task) const;

 private:
  std::vector<ApprovedStudy> approved_;
};

}  // namespace cohort::site

#endif  // COHORT_SITE_AGENT_APPROVAL_H_
