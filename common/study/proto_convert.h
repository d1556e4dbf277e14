// Conversions between wire messages (cohort.v1) and the in-memory types of
// common/ml and common/data, shared by coordinator and site agent.
#ifndef COHORT_COMMON_STUDY_PROTO_CONVERT_H_
#define COHORT_COMMON_STUDY_PROTO_CONVERT_H_

#include "absl/status/status.h"
#include "cohort/v1/tasks.pb.h"
#include "common/ml/metrics.h"
#include "nlohmann/json.hpp"

namespace cohort::study {

v1::Metrics ToProto(const ml::BinaryMetrics& metrics);
ml::BinaryMetrics FromProto(const v1::Metrics& metrics);

// Checks that metrics from a site are internally consistent: non-negative
// counts that add up, histograms of `bins` bins (or empty when n == 0) whose
// totals equal the class counts, finite loss. InvalidArgument otherwise.
absl::Status ValidateMetrics(const v1::Metrics& metrics, int bins);

// {"accuracy": .., "auc": .. (null if a class is absent), "n": ..}
nlohmann::json MetricsJson(const ml::BinaryMetrics& metrics);

}  // namespace cohort::study

#endif  // COHORT_COMMON_STUDY_PROTO_CONVERT_H_
