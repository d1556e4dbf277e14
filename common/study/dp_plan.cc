#include "common/study/dp_plan.h"

#include "absl/strings/str_cat.h"
#include "common/study/private_release.h"
#include "common/util/status_macros.h"
#include "crypto/sha256.h"

namespace cohort::study {

using Mode = StudyPlan::Privacy::Mode;
using privacy::PrivacyEvent;

absl::string_view ReleaseKindName(ReleaseKind kind) {
  switch (kind) {
    case ReleaseKind::kStatistics:
      return "statistics";
    case ReleaseKind::kTrain:
      return "train";
    case ReleaseKind::kEvaluate:
      return "evaluate";
  }
  return "unknown";
}

absl::StatusOr<privacy::DistributedSumEncoder> DistributedEncoder(const StudyPlan& plan,
                                                                  ReleaseKind kind, int features,
                                                                  int round) {
  const StudyPlan::Privacy& p = plan.privacy;
  if (p.mode != Mode::kDistributed) {
    return absl::FailedPreconditionError("the plan's privacy mode is not distributed");
  }
  privacy::DistributedSumParams params;
  params.honest_sites = p.minimum_honest_sites;
  switch (kind) {
    case ReleaseKind::kStatistics: {
      ASSIGN_OR_RETURN(StatisticsLayout layout, StatisticsLayout::Create(plan.schema));
      params.dim = layout.length();
      params.clip = layout.record_bound();
      params.noise_multiplier = p.statistics_noise_multiplier;
      break;
    }
    case ReleaseKind::kTrain:
      params.dim = features + 1;
      params.clip = p.clip;
      params.noise_multiplier = p.noise_multiplier;
      break;
    case ReleaseKind::kEvaluate:
      return absl::InvalidArgumentError("evaluations are released with local noise");
  }
  params.granularity = privacy::DefaultGranularity(params.clip, params.dim);
  const std::string seed = absl::StrCat("cohort/v1/dp-rotation\n", plan.sha256, "\n", round, "\n",
                                        ReleaseKindName(kind));
  const auto digest = crypto::Sha256(seed);
  return privacy::DistributedSumEncoder::Create(
      params, absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<std::vector<PrivacyEvent>> ReleaseEvents(const StudyPlan& plan, ReleaseKind kind,
                                                        int features, int round, int models) {
  const StudyPlan::Privacy& p = plan.privacy;
  if (!p.on()) return absl::FailedPreconditionError("the plan turns privacy off");
  if (kind == ReleaseKind::kEvaluate) {
    return std::vector<PrivacyEvent>{{.mechanism = PrivacyEvent::Mechanism::kGaussian,
                                      .sampling_rate = 1.0,
                                      .noise_multiplier = p.evaluation_noise_multiplier,
                                      .count = std::max(1, models)}};
  }
  if (p.mode == Mode::kLocal) {
    if (kind == ReleaseKind::kStatistics) {
      return std::vector<PrivacyEvent>{{.mechanism = PrivacyEvent::Mechanism::kGaussian,
                                        .sampling_rate = 1.0,
                                        .noise_multiplier = p.statistics_noise_multiplier,
                                        .count = 1}};
    }
    return std::vector<PrivacyEvent>{{.mechanism = PrivacyEvent::Mechanism::kGaussian,
                                      .sampling_rate = p.sampling_rate,
                                      .noise_multiplier = p.noise_multiplier,
                                      .count = plan.DpStepsPerRound()}};
  }
  ASSIGN_OR_RETURN(privacy::DistributedSumEncoder encoder,
                   DistributedEncoder(plan, kind, features, round));
  return std::vector<PrivacyEvent>{
      {.mechanism = PrivacyEvent::Mechanism::kDiscreteGaussianSum,
       .sampling_rate = kind == ReleaseKind::kTrain ? p.sampling_rate : 1.0,
       .noise_multiplier = encoder.effective_noise_multiplier(),
       .rdp_slack = encoder.rdp_slack(),
       .count = 1}};
}

absl::StatusOr<std::vector<PrivacyEvent>> PlanEvents(const StudyPlan& plan) {
  const int features = data::NumEncodedFeatures(plan.schema);
  std::vector<PrivacyEvent> all;
  ASSIGN_OR_RETURN(std::vector<PrivacyEvent> stats,
                   ReleaseEvents(plan, ReleaseKind::kStatistics, features, 0));
  all.insert(all.end(), stats.begin(), stats.end());
  // Every training round costs the same: one event with the rounds as count.
  ASSIGN_OR_RETURN(std::vector<PrivacyEvent> train,
                   ReleaseEvents(plan, ReleaseKind::kTrain, features, 1));
  for (PrivacyEvent e : train) {
    e.count *= plan.rounds;
    all.push_back(e);
  }
  ASSIGN_OR_RETURN(std::vector<PrivacyEvent> evaluate,
                   ReleaseEvents(plan, ReleaseKind::kEvaluate, features, plan.rounds + 1));
  all.insert(all.end(), evaluate.begin(), evaluate.end());
  return all;
}

}  // namespace cohort::study
