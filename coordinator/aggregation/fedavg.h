// Server-side aggregation of the models sites send back after a round of
// local training.
//
// A ServerStrategy turns the current global model and the round's client
// updates into the next global model. FedAvg (McMahan et al., "Communication-
// Efficient Learning of Deep Networks from Decentralized Data", AISTATS 2017)
// is the first; FedProx/FedAdam-style strategies implement the same interface
// (FedAdam keeps server optimizer state between rounds, hence Aggregate is
// non-const).
//
// Updates come from sites and are untrusted: every function here validates
// them and names the offending site in its error, so the coordinator can drop
// that site (ValidateUpdate first, per STYLE.md) and go on with the rest.
//
// Ownership: updates are borrowed for the duration of the call.
// Thread-safety: FederatedAverage and FedAvg are stateless and safe to call
// concurrently; other strategies state their own rules.
#ifndef COHORT_COORDINATOR_AGGREGATION_FEDAVG_H_
#define COHORT_COORDINATOR_AGGREGATION_FEDAVG_H_

#include <cstdint>
#include <string>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::coordinator {

// One site's trained model for a round.
struct ClientUpdate {
  std::string site;
  Eigen::VectorXd parameters;  // The flat model vector (cohort::ml layout).
  double weight = 0.0;         // Number of local training examples.
};

// OK if `update` has exactly `expected_size` values, all finite, and a finite
// weight > 0. Otherwise InvalidArgument such as
//   "site 'va': update has 12 values, the model has 14"
//   "site 'va': update value 3 is NaN"
//   "site 'va': weight must be finite and > 0, got 0"
absl::Status ValidateUpdate(const ClientUpdate& update, int64_t expected_size);

// sum_i weight_i * parameters_i / sum_i weight_i.
// Returns FailedPrecondition when `updates` is empty, and InvalidArgument
// naming the site when an update fails ValidateUpdate (its size is checked
// against the first update's).
absl::StatusOr<Eigen::VectorXd> FederatedAverage(
    absl::Span<const ClientUpdate> updates);

class ServerStrategy {
 public:
  virtual ~ServerStrategy() = default;

  // Short name for logs and configs ("fedavg").
  virtual absl::string_view name() const = 0;

  // The next global model from the current one and this round's updates.
  // InvalidArgument when `global` is empty or not finite, or an update fails
  // ValidateUpdate against global.size(); FailedPrecondition when `updates`
  // is empty.
  virtual absl::StatusOr<Eigen::VectorXd> Aggregate(
      const Eigen::VectorXd& global,
      absl::Span<const ClientUpdate> updates) = 0;
};

// The next global model is the example-weighted mean of the site models;
// the previous global model only fixes the expected size.
class FedAvg final : public ServerStrategy {
 public:
  absl::string_view name() const override { return "fedavg"; }

  absl::StatusOr<Eigen::VectorXd> Aggregate(
      const Eigen::VectorXd& global,
      absl::Span<const ClientUpdate> updates) override;
};

}  // namespace cohort::coordinator

#endif  // COHORT_COORDINATOR_AGGREGATION_FEDAVG_H_
