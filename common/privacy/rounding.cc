#include "common/privacy/rounding.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/random/distributions.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace cohort::privacy {
namespace {

__extension__ using Uint128 = unsigned __int128;

// floor(b^2) exactly, for 0 <= b <= 2^40. The product b * b rounds to
// nearest; fma recovers its rounding error e exactly (b^2 = p + e). If p is
// not an integer, |e| < ulp(p) / 2 is too small to cross an integer, so
// floor(b^2) = floor(p); if p is an integer, b^2 < p exactly when e < 0.
Uint128 FloorOfSquare(double b) {
  const double p = b * b;
  const double e = std::fma(b, b, -p);
  const double floor_p = std::floor(p);
  Uint128 result = static_cast<Uint128>(floor_p);
  if (floor_p == p && e < 0 && result > 0) --result;
  return result;
}

}  // namespace

double ConditionalRoundingBound(double norm, int dim, double beta) {
  if (!(norm >= 0) || !std::isfinite(norm) || dim < 1 || !(beta >= 0) || !(beta < 1)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double d = static_cast<double>(dim);
  const double loose = norm + std::sqrt(d);
  if (beta == 0) return loose;
  const double tight = std::sqrt(norm * norm + d / 4 +
                                 std::sqrt(2 * std::log(1 / beta)) * (norm + std::sqrt(d) / 2));
  return std::min(tight, loose);
}

absl::StatusOr<std::vector<int64_t>> ConditionalRound(absl::Span<const double> x, double bound,
                                                      absl::BitGenRef gen, int max_tries) {
  if (max_tries < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_tries must be >= 1, got ", max_tries));
  }
  if (!(bound >= 0) || !(bound <= kMaxRoundingMagnitude)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rounding bound must be in [0, ", kMaxRoundingMagnitude, "], got ", bound));
  }
  std::vector<int64_t> floors(x.size());
  std::vector<uint64_t> up_thresholds(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || std::abs(x[i]) > kMaxRoundingMagnitude) {
      return absl::InvalidArgumentError(absl::StrCat(
          "x[", i, "] must be finite with magnitude <= ", kMaxRoundingMagnitude, ", got ", x[i]));
    }
    const double floor_x = std::floor(x[i]);
    floors[i] = static_cast<int64_t>(floor_x);
    // x - floor(x) is exact for |x| <= 2^40 and lies in [0, 1 - 2^-53], so
    // scaling by 2^64 stays below 2^64.
    up_thresholds[i] = static_cast<uint64_t>(std::ldexp(x[i] - floor_x, 64));
  }
  const Uint128 max_squared_norm = FloorOfSquare(bound);

  std::vector<int64_t> rounded(x.size());
  for (int attempt = 0; attempt < max_tries; ++attempt) {
    Uint128 squared_norm = 0;
    bool within = true;
    for (size_t i = 0; i < x.size(); ++i) {
      const bool up = absl::Uniform<uint64_t>(gen) < up_thresholds[i];
      rounded[i] = floors[i] + (up ? 1 : 0);
      // No early exit once the bound is exceeded: every attempt draws all
      // coordinates, so its running time does not reveal where that happened.
      if (within) {
        const uint64_t magnitude = static_cast<uint64_t>(rounded[i] < 0 ? -rounded[i] : rounded[i]);
        squared_norm += Uint128{magnitude} * magnitude;
        within = squared_norm <= max_squared_norm;
      }
    }
    if (within) return rounded;
  }
  return absl::ResourceExhaustedError(absl::StrCat("conditional rounding found no rounding of the ",
                                                   x.size(), "-vector with L2 norm <= ", bound,
                                                   " in ", max_tries, " tries"));
}

}  // namespace cohort::privacy
