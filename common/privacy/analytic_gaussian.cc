#include "common/privacy/analytic_gaussian.h"

#include <cmath>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/privacy/log_math.h"

namespace cohort::privacy {

double AnalyticGaussianDelta(double mu, double epsilon) {
  const double a = -epsilon / mu + mu / 2;
  const double b = -epsilon / mu - mu / 2;
  const double delta = internal::NormalCdf(a) - std::exp(epsilon + internal::LogNormalCdf(b));
  return delta > 0 ? delta : 0;
}

absl::StatusOr<double> AnalyticGaussianEpsilon(double noise_multiplier, int64_t count,
                                               double delta) {
  if (!(noise_multiplier > 0) || !std::isfinite(noise_multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("noise_multiplier: must be finite and > 0, got ", noise_multiplier));
  }
  if (count < 1)
    return absl::InvalidArgumentError(absl::StrCat("count: must be >= 1, got ", count));
  if (!(delta > 0 && delta < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("delta: must be in (0, 1), got ", delta));
  }
  const double mu = std::sqrt(static_cast<double>(count)) / noise_multiplier;
  if (AnalyticGaussianDelta(mu, 0) <= delta) return 0.0;
  double lo = 0, hi = 1;
  while (AnalyticGaussianDelta(mu, hi) > delta) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1e-12 * hi) {
    const double mid = 0.5 * (lo + hi);
    (AnalyticGaussianDelta(mu, mid) > delta ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace cohort::privacy
