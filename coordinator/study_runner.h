// Runs one study from start to finish: waits for enough sites, federated
// preprocessing (round 0), the training rounds, the optional single-site
// baseline, the final evaluation, and writes summary.json and the model.
//
// Protocol logic only: it talks to sites through the SiteRegistry (task
// queues) and receives results through OnResult(); it knows nothing of gRPC.
// A site that refuses, misses the deadline, disconnects or sends a malformed
// result is dropped from that phase with a logged reason; the study goes on
// while at least `min_sites` report, retries a round otherwise, and fails
// with the reason when retries run out.
//
// After every round the global model, the global preprocessing statistics
// and the summary are checkpointed atomically under
// <state_dir>/studies/<study_id>/; a restarted coordinator resumes there.
//
// Thread-safety: Run() executes on one thread; OnResult() and Stop() may be
// called from any thread (gRPC handlers).
#ifndef COHORT_COORDINATOR_STUDY_RUNNER_H_
#define COHORT_COORDINATOR_STUDY_RUNNER_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "Eigen/Dense"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cohort/v1/tasks.pb.h"
#include "common/audit/audit_log.h"
#include "common/ml/optimizer.h"
#include "crypto/signature.h"
#include "common/privacy/distributed.h"
#include "common/study/study_plan.h"
#include "common/util/clock.h"
#include "coordinator/aggregation/fedavg.h"
#include "coordinator/blob_store.h"
#include "coordinator/site_registry.h"
#include "nlohmann/json.hpp"

namespace cohort::coordinator {

struct RunnerEnv {
  SiteRegistry* registry = nullptr;
  BlobStore* blobs = nullptr;
  const util::Clock* clock = nullptr;
  // Root of the coordinator's state; the study writes under studies/<id>/.
  std::string state_dir;
  // The consortium CA (PEM), to verify sites' signed key advertisements.
  std::string ca_pem = "";
  // Distinguishes task ids of this coordinator process from those of an
  // earlier one (a restart re-runs a round under new task ids).
  std::string run_id = "0";
  // The coordinator's signed audit log (docs/audit-log.md), shared by its
  // studies; not owned. Null: nothing is audited and no receipts are sent
  // (unit tests of the round logic).
  audit::AuditLog* audit = nullptr;
  // The coordinator's key and certificate, to sign the sites' receipts.
  std::shared_ptr<const crypto::Signer> signer;
  std::string cert_pem;
};

class StudyRunner {
 public:
  StudyRunner(study::StudyPlan plan, RunnerEnv env);

  // Runs the study to completion. OK when it completed; otherwise the reason
  // it failed (also recorded in summary.json with status "failed").
  absl::Status Run();

  // A result pushed by `site`.
  //   AlreadyExists: this task's result was already received (duplicate push).
  //   PermissionDenied: the task belongs to another site.
  //   FailedPrecondition: the task is not (or no longer) awaited.
  absl::Status OnResult(const std::string& site, v1::TaskResult result);

  // Asks Run() to stop at the next check; it returns Cancelled.
  void Stop();

  const study::StudyPlan& plan() const { return plan_; }
  std::string StudyDir() const;

 private:
  struct PhaseOutcome {
    std::map<std::string, v1::TaskResult> results;  // by site
    std::map<std::string, std::string> dropped;     // site -> reason
  };
  using TaskFactory = std::function<void(const std::string& site, v1::Task& task)>;

  PhaseOutcome RunPhase(int round, int attempt, absl::string_view kind,
                        const std::vector<std::string>& sites, const TaskFactory& fill);
  std::vector<std::string> EligibleSites() const;
  bool Stopped() const;

  // A phase's contributions, summed: in the clear, or through secure
  // aggregation when the plan asks for it (the coordinator then only ever
  // holds the sum).
  template <typename T>
  struct Collected {
    T total;
    std::vector<std::string> sites;              // whose contributions are in the total
    std::map<std::string, std::string> dropped;  // site -> reason
    Eigen::VectorXd gradient_sum;                // distributed DP training only
  };
  struct SecureOutcome {
    int attempt = 0;
    std::vector<uint64_t> sum;
    std::vector<std::string> survivors;
    std::map<std::string, std::string> dropped;
  };
  // The four phases of a securely aggregated round (docs/secure-aggregation.md);
  // Unavailable when the protocol aborts (too few survivors): nothing is
  // revealed then.
  absl::StatusOr<SecureOutcome> RunSecureRound(
      int round, int attempt, const std::vector<std::string>& sites, int bits,
      int64_t vector_length, const std::function<void(v1::SecureAggregationTask&)>& set_input);
  void RecordSecureRound(int round, const SecureOutcome& secure);
  absl::StatusOr<Collected<v1::StatisticsResult>> CollectStatistics(int attempt);
  absl::StatusOr<Collected<v1::RoundContribution>> CollectTraining(int round, int attempt,
                                                                    const v1::BlobRef& model);

  // Distributed DP: the real-valued sum a secure sum of noisy integer sums
  // stands for.
  absl::StatusOr<Eigen::VectorXd> DecodeDistributed(const privacy::DistributedSumEncoder& encoder,
                                                    const std::vector<uint64_t>& sum, int bits);
  // A training round under DP: a server DP-SGD step (distributed) or the
  // average of the sites' noisy deltas (local).
  absl::Status ApplyPrivateRound(int round, const Collected<v1::RoundContribution>& collected);
  absl::Status RunStatistics();
  absl::Status RunTrainingRound(int round);
  absl::Status RunBaseline();
  absl::Status RunFinalEvaluation();

  // Appends to the audit log (durable) before the action it records.
  absl::Status Audit(absl::string_view type, nlohmann::json body);
  // After a round (and when the study ends): a signed receipt to each site,
  // committing to the round's participants, its aggregate and the head of
  // the coordinator's log.
  // Records a round's aggregate and the new model, then sends receipts.
  absl::Status ReleaseRound(int round, const std::vector<std::string>& sites,
                            const std::string& aggregate_sha256);
  absl::Status SendReceipts(int round, const std::vector<std::string>& sites,
                            const std::string& aggregate_sha256, const std::string& model_sha256);
  void Drop(PhaseOutcome& outcome, const std::string& site, const std::string& reason,
            int round);
  v1::Normalization NormalizationProto() const;
  std::string ModelBytes(const Eigen::VectorXd& params) const;
  absl::Status WriteCheckpoint(int completed_round);
  absl::Status WriteSummary();
  absl::Status TryResume(int& next_round);
  absl::Status Fail(absl::Status reason);

  const study::StudyPlan plan_;
  const RunnerEnv env_;
  std::unique_ptr<ServerStrategy> strategy_;
  std::vector<std::string> feature_names_;

  // Study state (runner thread only).
  Eigen::VectorXd model_;
  Eigen::VectorXd baseline_model_;
  // DP: the noisy count of training records per site (public), and the
  // coordinator's optimizer in distributed mode (its state restarts with the
  // process).
  double dp_records_per_site_ = 0;
  std::unique_ptr<ml::Optimizer> server_optimizer_;
  std::vector<double> norm_mean_, norm_scale_, norm_impute_;
  nlohmann::json summary_;
  // Checks the sites' certificates in secure rounds; kept across rounds so
  // each certificate is fully verified once (made from env_.ca_pem on first use).
  std::shared_ptr<crypto::CertificateVerifier> certificates_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::string> expected_ ABSL_GUARDED_BY(mu_);  // task id -> site
  std::map<std::string, v1::TaskResult> received_ ABSL_GUARDED_BY(mu_);  // by site
  std::set<std::string> completed_tasks_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> excluded_ ABSL_GUARDED_BY(mu_);  // refused the study
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_STUDY_RUNNER_H_
