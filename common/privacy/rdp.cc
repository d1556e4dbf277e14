#include "common/privacy/rdp.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "common/privacy/log_math.h"

namespace cohort::privacy {
namespace {

using internal::kNegInf;
using internal::LogAddExp;
using internal::LogErfc;
using internal::LogSubExp;

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> MakeDefaultOrders() {
  std::vector<double> orders;
  for (int tenths = 11; tenths <= 109; ++tenths) {
    orders.push_back(tenths / 10.0);
    if (tenths == 12 || tenths == 17 || tenths == 22) orders.push_back(tenths / 10.0 + 0.05);
  }
  for (int a = 11; a <= 63; ++a) orders.push_back(a);
  for (double a : {64, 80, 96, 112, 128, 160, 192, 224, 256, 384, 512, 768, 1024}) {
    orders.push_back(a);
  }
  return orders;
}

bool IsInteger(double x) { return x == std::floor(x); }

// log A_a for integer a >= 2 [MTZ19, Section 3.2]:
//   A_a = sum_{k=0}^{a} C(a, k) (1 - q)^(a - k) q^k exp((k^2 - k) / (2 sigma^2)).
double LogAIntegerOrder(double q, double sigma, int64_t order) {
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double two_var = 2 * sigma * sigma;
  double log_binom = 0;  // log C(order, k), built up term by term.
  double log_a = kNegInf;
  for (int64_t k = 0; k <= order; ++k) {
    if (k > 0) {
      log_binom += std::log(static_cast<double>(order - k + 1)) - std::log(static_cast<double>(k));
    }
    const double kd = static_cast<double>(k);
    const double term = log_binom + static_cast<double>(order - k) * log_1mq + kd * log_q +
                        (kd * kd - kd) / two_var;
    log_a = LogAddExp(log_a, term);
  }
  return log_a;
}

// log A_a for fractional a > 1 [MTZ19, Section 3.3]. The integral defining A_a
// is split at z0, where q * mu1 / mu0 = 1 - q, and each half is expanded by
// the generalized binomial theorem, giving two series. Past i = a + 1 their
// terms alternate in sign, and once their magnitudes decrease the rest of the
// sum is smaller than the last term: so the sum stops when a term is below
// 1e-11 of the (>= 1) total, or after kMaxTerms terms (sampling rates near
// 1/2 converge slowly), and adds that term's magnitude as a bound on the
// rest, which keeps the result an upper bound. Returns NaN if the magnitudes
// were not decreasing by then; the caller uses the next integer order.
double LogAFractionalOrder(double q, double sigma, double order) {
  constexpr int kMaxTerms = 2000;
  constexpr double kLogRelativeTolerance = -25;  // e^-25 ~ 1.4e-11
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  const double var = sigma * sigma;
  const double z0 = var * (std::log(1 / q - 1)) + 0.5;
  const double scale = std::numbers::sqrt2 * sigma;
  // Positive and negative terms are summed separately, then subtracted once.
  double pos = kNegInf, neg = kNegInf;
  double log_abs_binom = 0;  // log |C(order, i)|
  bool binom_negative = false;
  double previous_log_term = kNegInf;
  for (int i = 0; i < kMaxTerms; ++i) {
    if (i > 0) {
      const double factor = order - (i - 1);  // C(a, i) = C(a, i-1) (a - i + 1) / i
      log_abs_binom += std::log(std::fabs(factor)) - std::log(static_cast<double>(i));
      if (factor < 0) binom_negative = !binom_negative;
    }
    const double id = i;
    const double j = order - id;
    // Below z0: C(a, i) (1-q)^(a-i) q^i exp((i^2 - i) / (2 var)) P[N(i, var) <= z0].
    const double log_s0 = log_abs_binom + id * log_q + j * log_1mq + (id * id - id) / (2 * var) +
                          std::log(0.5) + LogErfc((id - z0) / scale);
    // Above z0: C(a, i) q^(a-i) (1-q)^i exp((j^2 - j) / (2 var)) P[N(j, var) > z0].
    const double log_s1 = log_abs_binom + j * log_q + id * log_1mq + (j * j - j) / (2 * var) +
                          std::log(0.5) + LogErfc((z0 - j) / scale);
    const double log_term = LogAddExp(log_s0, log_s1);
    double& bucket = binom_negative ? neg : pos;
    bucket = LogAddExp(bucket, log_term);
    const bool alternating_tail = id > order + 1 && log_term < previous_log_term;
    previous_log_term = log_term;
    if (alternating_tail &&
        (log_term < LogSubExp(pos, neg) + kLogRelativeTolerance || i == kMaxTerms - 1)) {
      return LogSubExp(LogAddExp(pos, log_term), neg);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

absl::Span<const double> DefaultRdpOrders() {
  static const std::vector<double>* const orders = new std::vector<double>(MakeDefaultOrders());
  return *orders;
}

double SampledGaussianRdp(double sampling_rate, double noise_multiplier, double order) {
  if (sampling_rate == 1) return order / (2 * noise_multiplier * noise_multiplier);
  if (IsInteger(order)) {
    return LogAIntegerOrder(sampling_rate, noise_multiplier, static_cast<int64_t>(order)) /
           (order - 1);
  }
  const double log_a = LogAFractionalOrder(sampling_rate, noise_multiplier, order);
  if (std::isnan(log_a)) {
    // RDP is non-decreasing in the order, so the next integer bounds it.
    return SampledGaussianRdp(sampling_rate, noise_multiplier, std::ceil(order));
  }
  return log_a / (order - 1);
}

double PoissonSubsampledRdp(double sampling_rate, absl::FunctionRef<double(double)> base_rdp,
                            int64_t order) {
  const double q = sampling_rate;
  const double a = static_cast<double>(order);
  const double base_at_order = base_rdp(a);
  if (q == 1) return base_at_order;
  const double log_q = std::log(q);
  const double log_1mq = std::log1p(-q);
  // [ZW19] Theorem 6, in log space:
  //   (1-q)^(a-1) (a q - q + 1) + C(a,2) q^2 (1-q)^(a-2) e^eps(2)
  //   + 3 sum_{l=3}^{a} C(a,l) (1-q)^(a-l) q^l e^((l-1) eps(l)).
  double log_sum = (a - 1) * log_1mq + std::log1p(q * (a - 1));
  double log_binom = std::log(a);  // log C(a, 1)
  for (int64_t l = 2; l <= order; ++l) {
    const double ld = static_cast<double>(l);
    log_binom += std::log(a - ld + 1) - std::log(ld);
    double term = log_binom + ld * log_q + (a - ld) * log_1mq + (ld - 1) * base_rdp(ld);
    if (l >= 3) term += std::log(3.0);
    log_sum = LogAddExp(log_sum, term);
  }
  const double bound = log_sum / (a - 1);
  return bound < base_at_order ? bound : base_at_order;
}

double DiscreteGaussianSumRdp(double sampling_rate, double noise_multiplier, double rdp_slack,
                              double order) {
  auto base = [&](double a) { return a / (2 * noise_multiplier * noise_multiplier) + rdp_slack; };
  if (sampling_rate == 1) return base(order);
  return PoissonSubsampledRdp(sampling_rate, base, static_cast<int64_t>(std::ceil(order)));
}

RdpConversion RdpCurveToEpsilon(absl::Span<const double> orders, absl::Span<const double> rdp,
                                double delta) {
  RdpConversion best{kInf, 0};
  const double log_delta = std::log(delta);
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    const double r = rdp[i];
    if (!(r < kInf)) continue;
    // delta >= sqrt(1 - e^-KL) >= total variation distance = delta(0), and
    // KL <= every Rényi divergence of order a > 1.
    if (delta * delta >= -std::expm1(-r)) return {0, 0};
    const double eps = r + std::log1p(-1 / a) - (log_delta + std::log(a)) / (a - 1);
    if (eps < best.epsilon) best = {eps, a};
  }
  if (best.epsilon < 0) best.epsilon = 0;
  return best;
}

}  // namespace cohort::privacy
