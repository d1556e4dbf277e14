#include "common/privacy/log_math.h"

#include <cmath>
#include <numbers>
#include <utility>

namespace cohort::privacy::internal {

double LogAddExp(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

double LogSubExp(double a, double b) {
  if (b == kNegInf) return a;
  if (a <= b) return kNegInf;
  // log(e^a - e^b) = a + log(1 - e^(b - a)), with -expm1 exact near a == b.
  return a + std::log(-std::expm1(b - a));
}

double LogErfc(double x) {
  // std::erfc keeps full relative accuracy until it nears the smallest
  // normal double (x ~ 26.5); erfc(25) ~ 8e-274 is still comfortably normal.
  constexpr double kAsymptoticFrom = 25;
  if (x < kAsymptoticFrom) return std::log(std::erfc(x));
  // erfc(x) = exp(-x^2) / (x sqrt(pi)) * (1 - 1/(2x^2) + 3/(4x^4) - 15/(8x^6)
  // + 105/(16x^8) - ...); at x >= 25 the next term is below 3e-13.
  const double r = 1.0 / (2.0 * x * x);
  const double series = -r + 3.0 * r * r - 15.0 * r * r * r + 105.0 * r * r * r * r;
  return -x * x - std::log(x) - 0.5 * std::log(std::numbers::pi) + std::log1p(series);
}

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

double NormalSf(double z) { return 0.5 * std::erfc(z / std::numbers::sqrt2); }

double LogNormalCdf(double z) { return std::log(0.5) + LogErfc(-z / std::numbers::sqrt2); }

double LogNormalSf(double z) { return std::log(0.5) + LogErfc(z / std::numbers::sqrt2); }

double NormalSfInverse(double p) {
  // Bisection on the monotone log-survival function: robust, and called only
  // a few times per accountant query.
  const double target = std::log(p);
  double lo = 0, hi = 1;
  while (LogNormalSf(hi) > target) hi *= 2;
  while (hi - lo > 1e-10) {
    const double mid = 0.5 * (lo + hi);
    (LogNormalSf(mid) > target ? lo : hi) = mid;
  }
  return hi;
}

}  // namespace cohort::privacy::internal
