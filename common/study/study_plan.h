// A study plan: what a consortium asks its hospitals to compute.
//
// The plan is a YAML file written by the consortium (fields:
// docs/operator-guide.md#writing-a-study-plan).
// It travels to every site verbatim with each task; a site pins the plans its
// hospital approved by the SHA-256 of exactly these bytes, so the parsed form
// below is always derived from `text`, never sent separately.
//
// Immutable value once parsed; safe to share between threads.
#ifndef COHORT_COMMON_STUDY_STUDY_PLAN_H_
#define COHORT_COMMON_STUDY_STUDY_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/data/schema.h"
#include "common/ml/optimizer.h"
#include "common/ml/trainer.h"

namespace cohort::study {

struct StudyPlan {
  std::string study_id;
  std::string description;
  std::vector<std::string> sites;
  int min_sites = 0;
  int rounds = 0;
  absl::Duration round_deadline = absl::Seconds(60);
  // How long the study waits for `min_sites` to join before failing.
  absl::Duration join_timeout = absl::Minutes(10);
  // Once `min_sites` have joined, how long to wait for the remaining sites
  // before starting without them.
  absl::Duration start_grace = absl::Seconds(10);
  // A round with fewer than `min_sites` reports is retried this many times
  // before the study fails.
  int max_round_retries = 2;

  std::string model_kind = "logistic_regression";
  double l2 = 0.0;
  ml::LocalTrainingOptions training;

  std::string aggregation = "fedavg";
  double server_learning_rate = 1.0;

  int histogram_bins = 1000;
  // Optional: a site whose model trained on its own data alone is reported
  // beside the federated one.
  std::string baseline_site;

  data::StudySchema schema;

  // Secure aggregation (docs/secure-aggregation.md): on by default.
  struct SecureAggregation {
    bool enabled = true;
    int threshold = 0;  // sites whose shares are needed; default n/2 + 1, >= 2
    int degree = 0;     // neighbours per site; default n - 1 (complete graph)
    int bits = 32;      // training vectors are summed mod 2^bits
    // Bound on each coordinate of a site's weighted update n_k * delta_k and
    // on its loss sums; larger values are clipped (and counted).
    double clip = 10000;
  } secure_aggregation;

  // Differential privacy (docs/privacy.md): what each site adds to what it
  // releases. The unit of privacy is one patient record. Each site's own
  // config, not the plan, sets how much it lets a study spend.
  struct Privacy {
    enum class Mode {
      kOff,          // no noise: debugging only, sites must opt in
      kLocal,        // each site's releases are DP on their own (no trust needed)
      kDistributed,  // sites add shares of discrete Gaussian noise; only the
                     // securely aggregated sum carries the full noise
    };
    Mode mode = Mode::kLocal;
    double delta = 1e-5;              // the delta at which the plan's epsilon is stated
    double clip = 1.0;                // C: L2 bound of one record's gradient
    double noise_multiplier = 1.0;    // sigma of each DP-SGD step
    double sampling_rate = 0.1;       // Poisson rate q of each DP-SGD step
    int minimum_honest_sites = 0;     // distributed: default min_sites
    double statistics_noise_multiplier = 10.0;
    double evaluation_noise_multiplier = 10.0;
    int evaluation_bins = 10;         // score-histogram bins of a DP evaluation
    bool on() const { return mode != Mode::kOff; }
  } privacy;

  // The plan file's bytes and their SHA-256 (lower-case hex).
  std::string text;
  std::string sha256;

  bool HasSite(absl::string_view site) const;
  // DP-SGD steps one training round takes at a site: one in distributed mode
  // (the coordinator takes the step); in local mode local_steps, or without
  // it local_epochs / sampling_rate (that many passes in expectation).
  int DpStepsPerRound() const;
};

// "off", "local" or "distributed".
absl::string_view PrivacyModeName(StudyPlan::Privacy::Mode mode);

// Parses and validates a plan. `file` names the source in errors, which carry
// the line and field ("plan.yaml:9: field 'rounds': must be at least 1").
absl::StatusOr<StudyPlan> ParseStudyPlan(absl::string_view text,
                                         absl::string_view file);
absl::StatusOr<StudyPlan> LoadStudyPlan(const std::string& path);

}  // namespace cohort::study

#endif  // COHORT_COMMON_STUDY_STUDY_PLAN_H_
