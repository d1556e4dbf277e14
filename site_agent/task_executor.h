// Executes one task at a site: the approval check, then federated
// statistics, local training or evaluation on the hospital's own data.
//
// Transport-free: models arrive through a BlobFetcher, results are returned
// as messages; the gRPC connection lives in site_agent/coordinator_client.h.
// Only aggregate quantities leave through results (counts, sums, histograms,
// a model delta), never a row.
//
// Every contribution passes through a ContributionEncoder before it leaves:
// the seam where secure aggregation and distributed DP encode the update.
//
// Not thread-safe: one worker thread executes tasks in order.
#ifndef COHORT_SITE_AGENT_TASK_EXECUTOR_H_
#define COHORT_SITE_AGENT_TASK_EXECUTOR_H_

#include <map>
#include <optional>
#include <vector>
#include <set>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cohort/v1/model.pb.h"
#include "cohort/v1/tasks.pb.h"
#include "common/data/loader.h"
#include "common/ml/metrics.h"
#include "common/util/logging.h"
#include "site_agent/approval.h"
#include "absl/random/random.h"
#include "common/audit/audit_log.h"
#include "common/privacy/ledger.h"
#include "nlohmann/json.hpp"
#include "common/study/dp_plan.h"
#include "common/study/secure_codec.h"
#include "crypto/random.h"
#include "crypto/secagg/client.h"
#include "crypto/signature.h"
#include "site_agent/secure_bit_gen.h"
#include "site_agent/site_config.h"

namespace cohort::site {

class BlobFetcher {
 public:
  virtual ~BlobFetcher() = default;
  // The blob's bytes, verified against ref.sha256().
  virtual absl::StatusOr<std::string> Fetch(const v1::BlobRef& ref) = 0;
};

// Turns a round contribution into what is sent. Plain for now.
class ContributionEncoder {
 public:
  virtual ~ContributionEncoder() = default;
  virtual absl::StatusOr<v1::EncodedContribution> Encode(
      const v1::RoundContribution& contribution) = 0;
};

class PlainEncoder final : public ContributionEncoder {
 public:
  absl::StatusOr<v1::EncodedContribution> Encode(
      const v1::RoundContribution& contribution) override;
};

class TaskExecutor {
 public:
  // `fetcher` is not owned and must outlive the executor.
  TaskExecutor(const SiteConfig& config, BlobFetcher* fetcher);

  // Always produces a result: a refusal when the task is not approved, the
  // plan is invalid or the data cannot be used (the reason is logged too).
  // An error status only for a transient problem (a model download failed,
  // the audit log cannot be written), after which the task may be retried.
  //
  // Every task received, every refusal and every result that leaves is
  // recorded first in the site's signed audit log,
  // <state_dir>/audit/site.jsonl (docs/audit-log.md); the result carries the
  // log's head as its audit anchor.
  absl::StatusOr<v1::TaskResult> Execute(const v1::Task& task);

  // Loads and validates the data for a plan before any task arrives.
  absl::Status Preload(const study::StudyPlan& plan);

 private:
  absl::StatusOr<const data::LocalDataset*> DatasetFor(const study::StudyPlan& plan);
  absl::StatusOr<Eigen::VectorXd> FetchModel(const v1::BlobRef& ref, int expected_size);
  absl::StatusOr<v1::TaskResult> Statistics(const study::StudyPlan& plan,
                                            const data::LocalDataset& data);
  // Differential privacy (docs/privacy.md). The charge a task's release would
  // make, or nullopt when the task releases nothing about records (a
  // key-exchange or unmasking phase) or the plan's privacy is off.
  absl::StatusOr<std::optional<privacy::ChargeRequest>> ChargeFor(const study::StudyPlan& plan,
                                                                  const v1::Task& task);
  absl::Status OpenLedger();
  // Makes the charge durable; the release may leave only after OK.
  absl::StatusOr<privacy::ChargeReceipt> Charge(const privacy::ChargeRequest& request,
                                                const util::LogContext& ctx);
  // Distributed DP: this site's noisy integer sum for a secure round, as
  // values mod 2^bits.
  absl::StatusOr<study::Encoded> EncodeDistributed(const study::StudyPlan& plan,
                                                   const v1::Task& task,
                                                   const data::LocalDataset& data);
  // The exact metrics of a DP evaluation stay at the site, in
  // <state_dir>/evaluations/<study>.json.
  absl::Status SaveLocalEvaluation(const study::StudyPlan& plan,
                                   const std::vector<ml::BinaryMetrics>& metrics) const;
  absl::StatusOr<v1::TaskResult> Train(const study::StudyPlan& plan, const v1::Task& task,
                                       const data::LocalDataset& data);
  absl::StatusOr<v1::TaskResult> Evaluate(const study::StudyPlan& plan, const v1::Task& task,
                                          const data::LocalDataset& data);
  // Local training from the task's global model; the contribution to sum.
  absl::StatusOr<v1::RoundContribution> ComputeContribution(const study::StudyPlan& plan,
                                                            const v1::TrainTask& train,
                                                            int round,
                                                            const data::LocalDataset& data,
                                                            int* local_steps);
  // One phase of a securely aggregated round.
  absl::StatusOr<v1::TaskResult> Secure(const study::StudyPlan& plan, const v1::Task& task,
                                        const data::LocalDataset& data);
  // The secure-aggregation context must be the one the approved plan implies.
  absl::Status CheckContext(const study::StudyPlan& plan, const v1::Task& task,
                            int features) const;
  absl::Status LoadIdentity();
  absl::StatusOr<v1::TaskResult> ExecuteTask(const v1::Task& task);
  absl::Status OpenAudit();
  // Checks a coordinator's receipt and records it in the audit log.
  absl::StatusOr<v1::TaskResult> Receipt(const v1::Task& task);
  absl::StatusOr<study::Encoded> EncodeStatistics(const v1::StatisticsResult& s, int features,
                                                  const v1::SecAggContext& context);
  absl::StatusOr<study::Encoded> EncodeTraining(const study::StudyPlan& plan,
                                                const v1::RoundContribution& c, int features,
                                                const v1::SecAggContext& context);
  // "study/round": the unit within which a site helps unmask at most one sum.
  static std::string RoundKey(const v1::Task& task);
  std::string UnmaskRecordPath() const;
  absl::Status LoadUnmaskRecord();
  absl::Status SaveUnmaskRecord() const;

  const SiteConfig& config_;
  BlobFetcher* fetcher_;
  ApprovalPolicy approval_;
  PlainEncoder encoder_;
  std::map<std::string, data::LocalDataset> datasets_;  // by plan sha256

  // Secure aggregation: this site's key material and one protocol client per
  // round in progress (keyed by study/round/attempt).
  crypto::OpenSslPrng prng_;
  absl::BitGen rounding_gen_;
  // DP noise comes from the CSPRNG.
  SecureBitGen noise_gen_{&prng_};
  std::unique_ptr<privacy::PrivacyLedger> ledger_;
  // What the last charge cost, for the audit entry of the result it paid for.
  std::optional<nlohmann::json> last_charge_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::set<std::string> warned_non_private_;
  std::string cert_pem_, ca_pem_;
  std::shared_ptr<const crypto::Signer> signer_;
  std::shared_ptr<crypto::CertificateVerifier> certificates_;  // made on first use
  std::map<std::string, std::unique_ptr<secagg::SecAggClient>> secagg_clients_;
  std::set<std::string> warned_plain_;  // plans already warned about
  // RoundKey() -> the sorted survivors of the sum this site helped unmask,
  // kept durably in <state_dir>/secure-aggregation/unmasked.json.
  std::map<std::string, std::vector<std::string>> answered_unmask_;
  bool unmask_record_loaded_ = false;
};

}  // namespace cohort::site

#endif  // COHORT_SITE_AGENT_TASK_EXECUTOR_H_
