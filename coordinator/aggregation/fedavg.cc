#include "coordinator/aggregation/fedavg.h"

#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::coordinator {
namespace {

// Site names come from the network; escape them before they reach a log.
std::string SitePrefix(absl::string_view site) {
  return absl::StrCat("site '", absl::CHexEscape(site), "': ");
}

absl::string_view NonFiniteName(double value) {
  if (std::isnan(value)) return "NaN";
  return value > 0 ? "Inf" : "-Inf";
}

}  // namespace

absl::Status ValidateContribution(const Contribution& c, int64_t expected_size) {
  if (c.weighted_delta.size() != expected_size) {
    return absl::InvalidArgumentError(absl::StrCat(SitePrefix(c.site), "update has ",
                                                   c.weighted_delta.size(),
                                                   " values, the model has ", expected_size));
  }
  for (Eigen::Index i = 0; i < c.weighted_delta.size(); ++i) {
    if (!std::isfinite(c.weighted_delta(i))) {
      return absl::InvalidArgumentError(absl::StrCat(SitePrefix(c.site), "update value ", i,
                                                     " is ", NonFiniteName(c.weighted_delta(i))));
    }
  }
  if (!std::isfinite(c.weight) || c.weight <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(SitePrefix(c.site), "weight must be finite and > 0, got ", c.weight));
  }
  return absl::OkStatus();
}

RoundSum::RoundSum(int64_t dimension)
    : weighted_delta_sum_(Eigen::VectorXd::Zero(dimension)) {}

absl::Status RoundSum::Add(const Contribution& c) {
  RETURN_IF_ERROR(ValidateContribution(c, weighted_delta_sum_.size()));
  Eigen::VectorXd next = weighted_delta_sum_ + c.weighted_delta;
  if (!next.allFinite() || !std::isfinite(weight_sum_ + c.weight)) {
    return absl::InvalidArgumentError(
        absl::StrCat(SitePrefix(c.site), "update values are too large to add"));
  }
  weighted_delta_sum_ = std::move(next);
  weight_sum_ += c.weight;
  ++count_;
  return absl::OkStatus();
}

absl::StatusOr<Eigen::VectorXd> RoundSum::MeanDelta() const {
  if (count_ == 0) return absl::FailedPreconditionError("no contributions in this round");
  return Eigen::VectorXd(weighted_delta_sum_ / weight_sum_);
}

absl::StatusOr<std::unique_ptr<FedAvg>> FedAvg::Create(double server_learning_rate) {
  if (!std::isfinite(server_learning_rate) || server_learning_rate <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server_learning_rate must be finite and > 0, got ", server_learning_rate));
  }
  return std::unique_ptr<FedAvg>(new FedAvg(server_learning_rate));
}

absl::StatusOr<Eigen::VectorXd> FedAvg::Apply(const Eigen::VectorXd& global,
                                              const RoundSum& sum) {
  if (global.size() == 0 || !global.allFinite()) {
    return absl::InvalidArgumentError("global model must be non-empty and finite");
  }
  if (global.size() != sum.weighted_delta_sum().size()) {
    return absl::InvalidArgumentError(absl::StrCat("global model has ", global.size(),
                                                   " values, the round sum has ",
                                                   sum.weighted_delta_sum().size()));
  }
  ASSIGN_OR_RETURN(Eigen::VectorXd mean, sum.MeanDelta());
  return Eigen::VectorXd(global + server_learning_rate_ * mean);
}

absl::StatusOr<std::unique_ptr<ServerStrategy>> MakeServerStrategy(absl::string_view name,
                                                                   double server_learning_rate) {
  if (name == "fedavg") {
    ASSIGN_OR_RETURN(std::unique_ptr<FedAvg> fedavg, FedAvg::Create(server_learning_rate));
    return std::unique_ptr<ServerStrategy>(std::move(fedavg));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("aggregation strategy \"", name, "\" is not supported (supported: fedavg)"));
}

}  // namespace cohort::coordinator
