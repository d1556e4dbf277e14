// Server-side aggregation: from the round's sum of site contributions to the
// next global model.
//
// Each site sends n_k * (theta_k - theta) and n_k (its example count). The
// coordinator only ever needs their sums, which is exactly what secure
// aggregation reveals, so aggregation is built on a RoundSum rather than on
// individual site models. FedAvg (McMahan et al., AISTATS 2017) then moves the
// global model by the example-weighted mean delta, scaled by a server
// learning rate; FedAdam/FedYogi will implement the same interface with
// server optimizer state.
//
// Contributions come from sites and are untrusted: RoundSum::Add validates
// each one and names the offending site in its error, so the caller can drop
// that site and go on with the rest.
//
// Thread-safety: RoundSum is not thread-safe; FedAvg is stateless.
#ifndef COHORT_COORDINATOR_AGGREGATION_FEDAVG_H_
#define COHORT_COORDINATOR_AGGREGATION_FEDAVG_H_

#include <cstdint>
#include <memory>
#include <string>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::coordinator {

// One site's training contribution, as decoded.
struct Contribution {
  std::string site;
  Eigen::VectorXd weighted_delta;  // n_k * (theta_k - theta_global)
  double weight = 0.0;             // n_k, the number of training examples
};

// OK if `c` has exactly `expected_size` finite values and a finite weight
// > 0; otherwise InvalidArgument such as
//   "site 'va': update has 12 values, the model has 14"
//   "site 'va': update value 3 is NaN"
//   "site 'va': weight must be finite and > 0, got 0"
absl::Status ValidateContribution(const Contribution& c, int64_t expected_size);

// The running sum of a round's contributions.
class RoundSum {
 public:
  explicit RoundSum(int64_t dimension);

  // Validates `c` and adds it; on error the sum is unchanged.
  absl::Status Add(const Contribution& c);

  const Eigen::VectorXd& weighted_delta_sum() const { return weighted_delta_sum_; }
  double weight_sum() const { return weight_sum_; }
  int count() const { return count_; }

  // sum_k n_k * delta_k / sum_k n_k. FailedPrecondition when empty.
  absl::StatusOr<Eigen::VectorXd> MeanDelta() const;

 private:
  Eigen::VectorXd weighted_delta_sum_;
  double weight_sum_ = 0.0;
  int count_ = 0;
};

class ServerStrategy {
 public:
  virtual ~ServerStrategy() = default;
  // Short name for logs and plans ("fedavg").
  virtual absl::string_view name() const = 0;
  // The next global model. InvalidArgument if `global` is empty, not finite
  // or of another size than the sum; FailedPrecondition if the sum is empty.
  virtual absl::StatusOr<Eigen::VectorXd> Apply(const Eigen::VectorXd& global,
                                                const RoundSum& sum) = 0;
};

// theta <- theta + server_learning_rate * mean delta.
class FedAvg final : public ServerStrategy {
 public:
  // InvalidArgument unless 0 < server_learning_rate (finite).
  static absl::StatusOr<std::unique_ptr<FedAvg>> Create(double server_learning_rate);
  absl::string_view name() const override { return "fedavg"; }
  absl::StatusOr<Eigen::VectorXd> Apply(const Eigen::VectorXd& global,
                                        const RoundSum& sum) override;

 private:
  explicit FedAvg(double lr) : server_learning_rate_(lr) {}
  const double server_learning_rate_;
};

// The strategy a plan names ("fedavg"); InvalidArgument for unknown names.
absl::StatusOr<std::unique_ptr<ServerStrategy>> MakeServerStrategy(
    absl::string_view name, double server_learning_rate);

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_AGGREGATION_FEDAVG_H_
