#include "coordinator/aggregation/fedavg.h"

#include <algorithm>
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

absl::Status ValidateValues(const ClientUpdate& update) {
  for (Eigen::Index i = 0; i < update.parameters.size(); ++i) {
    if (!std::isfinite(update.parameters(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat(SitePrefix(update.site), "update value ", i, " is ",
                       NonFiniteName(update.parameters(i))));
    }
  }
  if (!std::isfinite(update.weight) || update.weight <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(SitePrefix(update.site),
                     "weight must be finite and > 0, got ", update.weight));
  }
  return absl::OkStatus();
}

// The weighted mean of updates already validated to share one size.
absl::StatusOr<Eigen::VectorXd> WeightedMean(
    absl::Span<const ClientUpdate> updates) {
  // Scale weights by the largest so their sum cannot overflow.
  double max_weight = 0.0;
  for (const ClientUpdate& u : updates) max_weight = std::max(max_weight, u.weight);
  double total = 0.0;
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(updates.front().parameters.size());
  for (const ClientUpdate& u : updates) {
    const double w = u.weight / max_weight;
    sum += w * u.parameters;
    total += w;
  }
  Eigen::VectorXd mean = sum / total;
  if (!mean.allFinite()) {
    return absl::InvalidArgumentError(
        "weighted mean of the updates overflows; the values are too large");
  }
  return mean;
}

}  // namespace

absl::Status ValidateUpdate(const ClientUpdate& update, int64_t expected_size) {
  if (update.parameters.size() != expected_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        SitePrefix(update.site), "update has ", update.parameters.size(),
        " values, the model has ", expected_size));
  }
  return ValidateValues(update);
}

absl::StatusOr<Eigen::VectorXd> FederatedAverage(
    absl::Span<const ClientUpdate> updates) {
  if (updates.empty()) {
    return absl::FailedPreconditionError("no client updates to average");
  }
  const ClientUpdate& first = updates.front();
  if (first.parameters.size() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(SitePrefix(first.site), "update is empty"));
  }
  for (const ClientUpdate& u : updates) {
    if (u.parameters.size() != first.parameters.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          SitePrefix(u.site), "update has ", u.parameters.size(),
          " values, site '", absl::CHexEscape(first.site), "' sent ",
          first.parameters.size()));
    }
    RETURN_IF_ERROR(ValidateValues(u));
  }
  return WeightedMean(updates);
}

absl::StatusOr<Eigen::VectorXd> FedAvg::Aggregate(
    const Eigen::VectorXd& global, absl::Span<const ClientUpdate> updates) {
  if (global.size() == 0 || !global.allFinite()) {
    return absl::InvalidArgumentError(
        "global model must be non-empty and finite");
  }
  if (updates.empty()) {
    return absl::FailedPreconditionError("no client updates to aggregate");
  }
  for (const ClientUpdate& u : updates) {
    RETURN_IF_ERROR(ValidateUpdate(u, global.size()));
  }
  return WeightedMean(updates);
}

}  // namespace cohort::coordinator
