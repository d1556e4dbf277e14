// What a study plan's differential privacy costs, release by release, and
// the distributed-DP encoders both ends derive from the plan
// (docs/privacy.md).
//
// A site computes a release's events here before it touches any data, and
// its ledger charges them before the release leaves; the coordinator builds
// the same encoders to decode the secure sums; `cohort study check` adds up
// the whole plan. Everything is a pure function of the plan (and of the
// number of encoded features), so both ends agree without talking.
//
// Stateless free functions; thread-safe.
#ifndef COHORT_COMMON_STUDY_DP_PLAN_H_
#define COHORT_COMMON_STUDY_DP_PLAN_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/privacy/accountant.h"
#include "common/privacy/distributed.h"
#include "common/study/study_plan.h"

namespace cohort::study {

enum class ReleaseKind { kStatistics, kTrain, kEvaluate };
// "statistics", "train", "evaluate".
absl::string_view ReleaseKindName(ReleaseKind kind);

// Distributed mode: the encoder of a statistics (round 0) or training
// release. The rotation is public randomness derived from the plan's
// SHA-256, the round and the kind, identical at every site and at the
// coordinator. `features` is the number of encoded features.
// FailedPrecondition unless the plan's mode is distributed; InvalidArgument
// for parameters the encoder rejects.
absl::StatusOr<privacy::DistributedSumEncoder> DistributedEncoder(const StudyPlan& plan,
                                                                  ReleaseKind kind, int features,
                                                                  int round);

// What one release costs each of its records' patients: the events a site
// charges. `models` counts the models an evaluation covers. FailedPrecondition
// when the plan's privacy is off.
absl::StatusOr<std::vector<privacy::PrivacyEvent>> ReleaseEvents(const StudyPlan& plan,
                                                                 ReleaseKind kind, int features,
                                                                 int round, int models = 1);

// The whole plan, as a site that takes part in everything would be charged:
// the statistics, every training round and the final evaluation.
absl::StatusOr<std::vector<privacy::PrivacyEvent>> PlanEvents(const StudyPlan& plan);

}  // namespace cohort::study

#endif  // COHORT_COMMON_STUDY_DP_PLAN_H_
