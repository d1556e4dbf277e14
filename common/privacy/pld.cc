#include "common/privacy/pld.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <unsupported/Eigen/FFT>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/privacy/log_math.h"

namespace cohort::privacy {
namespace {

using internal::LogAddExp;
using internal::LogNormalCdf;
using internal::LogNormalSf;
using internal::LogSubExp;
using internal::NormalCdf;
using internal::NormalSf;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The subsampled Gaussian's loss ell(x) = log(P(x) / Q(x)) for the kRemove
// pair, ell(x) = log(1 - q + q exp((2x - 1) / (2 sigma^2))), which increases
// in x; the kAdd pair's loss is -ell(x). Values of the hockey-stick divergence
// come in two algebraically equal forms:
//   upper: delta(eps) = P[L > eps] - e^eps Q[L > eps],
//   lower: delta(eps) - (1 - e^eps) = e^eps Q[L <= eps] - P[L <= eps].
// Each is computed from the tail probabilities that are small where it is
// used, so both keep their absolute error far below the values themselves.
class SampledGaussianLoss {
 public:
  SampledGaussianLoss(double q, double sigma)
      : q_(q), sigma_(sigma), log_q_(std::log(q)), log_1mq_(q == 1 ? -kInf : std::log1p(-q)) {}

  double Loss(double x) const {
    const double u = (2 * x - 1) / (2 * sigma_ * sigma_);
    return q_ == 1 ? u : LogAddExp(log_1mq_, log_q_ + u);
  }

  // The infimum of ell, log(1 - q) (-inf for q = 1).
  double MinLoss() const { return log_1mq_; }

  enum class Form { kUpper, kLower };
  // delta(eps) in `direction`, in the given form.
  double Delta(PldDirection direction, Form form, double eps) const {
    return direction == PldDirection::kRemove ? RemoveDelta(form, eps) : AddDelta(form, eps);
  }

 private:
  // log(e^m - (1 - q)) for m > log(1 - q), and the x with ell(x) = m.
  double LogExcess(double m) const { return q_ == 1 ? m : LogSubExp(m, log_1mq_); }
  double XForLoss(double log_excess) const { return sigma_ * sigma_ * (log_excess - log_q_) + 0.5; }

  // P = (1-q) N(0) + q N(1), Q = N(0); {L > eps} = {x > x*}.
  double RemoveDelta(Form form, double eps) const {
    if (eps <= log_1mq_) return form == Form::kUpper ? -std::expm1(eps) : 0.0;
    const double log_g = LogExcess(eps);  // g = e^eps - (1 - q)
    const double x = XForLoss(log_g);
    const double z0 = x / sigma_, z1 = (x - 1) / sigma_;
    if (log_g < 700) {
      const double g = std::exp(log_g);
      return form == Form::kUpper ? q_ * NormalSf(z1) - g * NormalSf(z0)
                                  : g * NormalCdf(z0) - q_ * NormalCdf(z1);
    }
    // Far out (tiny noise): products of huge and tiny factors in log space.
    return form == Form::kUpper
               ? std::exp(log_q_ + LogNormalSf(z1)) - std::exp(log_g + LogNormalSf(z0))
               : std::exp(log_g + LogNormalCdf(z0)) - std::exp(log_q_ + LogNormalCdf(z1));
  }

  // P = N(0), Q = (1-q) N(0) + q N(1); {L > eps} = {x < x*}, empty for
  // eps >= -log(1 - q).
  double AddDelta(Form form, double eps) const {
    if (eps >= -log_1mq_) return form == Form::kUpper ? 0.0 : std::expm1(eps);
    const double x = XForLoss(LogExcess(-eps));
    const double z0 = x / sigma_, z1 = (x - 1) / sigma_;
    const double y = std::exp(eps);
    const double h = q_ == 1 ? 1.0 : -std::expm1(eps + log_1mq_);  // 1 - e^eps (1 - q)
    return form == Form::kUpper ? h * NormalCdf(z0) - y * q_ * NormalCdf(z1)
                                : y * q_ * NormalSf(z1) - h * NormalSf(z0);
  }

  double q_;
  double sigma_;
  double log_q_;
  double log_1mq_;
};

// The smallest N >= n with N = 4 * 2^a 3^b 5^c: Eigen's kissfft takes its fast
// real-input path for multiples of 4 and has butterflies for 2, 3, 4 and 5.
int64_t FftSize(int64_t n) {
  const int64_t quarter = std::max<int64_t>(1, (n + 3) / 4);
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int64_t p5 = 1; p5 < 2 * quarter; p5 *= 5) {
    for (int64_t p35 = p5; p35 < 2 * quarter; p35 *= 3) {
      int64_t m = p35;
      while (m < quarter) m *= 2;
      best = std::min(best, m);
    }
  }
  return 4 * best;
}

// base^k by squaring, with the plain complex product (std::complex's
// operator* calls a slow NaN-checking helper).
std::complex<double> Power(std::complex<double> base, int64_t k) {
  double rr = 1, ri = 0, br = base.real(), bi = base.imag();
  while (k > 0) {
    if (k & 1) {
      const double t = rr * br - ri * bi;
      ri = rr * bi + ri * br;
      rr = t;
    }
    k >>= 1;
    if (k > 0) {
      const double t = br * br - bi * bi;
      bi = 2 * br * bi;
      br = t;
    }
  }
  return {rr, ri};
}

int64_t Mod(int64_t a, int64_t n) {
  const int64_t r = a % n;
  return r < 0 ? r + n : r;
}

// log E[e^(lambda L)] over the finite masses, from their logarithms.
double LogMgf(const DiscretePld& pld, const std::vector<double>& log_masses, double lambda) {
  double max_exponent = -kInf;
  for (size_t i = 0; i < log_masses.size(); ++i) {
    const double loss =
        static_cast<double>(pld.first_index + static_cast<int64_t>(i)) * pld.interval;
    max_exponent = std::max(max_exponent, log_masses[i] + lambda * loss);
  }
  if (max_exponent == -kInf) return -kInf;
  double sum = 0;
  for (size_t i = 0; i < log_masses.size(); ++i) {
    const double loss =
        static_cast<double>(pld.first_index + static_cast<int64_t>(i)) * pld.interval;
    sum += std::exp(log_masses[i] + lambda * loss - max_exponent);
  }
  return max_exponent + std::log(sum);
}

}  // namespace

double DiscretePld::DeltaForEpsilon(double epsilon) const {
  double delta = infinity_mass;
  for (size_t i = 0; i < masses.size(); ++i) {
    const double loss = static_cast<double>(first_index + static_cast<int64_t>(i)) * interval;
    if (loss > epsilon) delta += masses[i] * -std::expm1(epsilon - loss);
  }
  return delta;
}

double DiscretePld::EpsilonForDelta(double delta) const {
  if (infinity_mass >= delta) return kInf;
  // Walk down the grid from the top. At grid point j,
  //   above = sum_{s > j} m_s (1 - e^((j - s) h)),  weight = sum_{s > j} m_s e^((j - s) h),
  // so delta(j h) = infinity_mass + above, and for t in [0, h)
  //   delta(j h + t) = delta(j h) - (e^t - 1) weight.
  const double h = interval;
  const double shrink = -std::expm1(-h);  // 1 - e^-h
  const double decay = std::exp(-h);
  double above = 0, weight = 0;
  for (int64_t i = static_cast<int64_t>(masses.size()) - 1; i >= 0; --i) {
    const int64_t j = first_index + i - 1;  // The grid point we step down to.
    above += (weight + masses[i]) * shrink;
    weight = (weight + masses[i]) * decay;
    const double delta_j = infinity_mass + above;
    if (delta_j > delta) {
      const double eps = static_cast<double>(j) * h + std::log1p((delta_j - delta) / weight);
      return std::max(0.0, eps);
    }
    if (j <= 0) return 0;
  }
  // Below the support delta(eps) rises as weight * (1 - e^t) with t < 0.
  const double delta_j = infinity_mass + above;
  const double rise = delta - delta_j;
  if (weight <= rise) return 0;
  return std::max(0.0, static_cast<double>(first_index - 1) * h + std::log1p(-rise / weight));
}

double SampledGaussianDelta(double sampling_rate, double noise_multiplier, PldDirection direction,
                            double epsilon) {
  return SampledGaussianLoss(sampling_rate, noise_multiplier)
      .Delta(direction, SampledGaussianLoss::Form::kUpper, epsilon);
}

LossRange SampledGaussianLossRange(double sampling_rate, double noise_multiplier,
                                   PldDirection direction, double tail_mass) {
  const SampledGaussianLoss loss(sampling_rate, noise_multiplier);
  const double reach = noise_multiplier * internal::NormalSfInverse(tail_mass);
  // P's x lies in [-reach, 1 + reach] (kRemove) or [-reach, reach] (kAdd)
  // but for tail_mass at each end; the loss is monotone in x.
  if (direction == PldDirection::kRemove) return {loss.Loss(-reach), loss.Loss(1 + reach)};
  return {-loss.Loss(reach), sampling_rate < 1 ? -loss.MinLoss() : -loss.Loss(-reach)};
}

DiscretePld DiscretizeSampledGaussian(double sampling_rate, double noise_multiplier,
                                      PldDirection direction, double interval, double tail_mass) {
  const SampledGaussianLoss loss(sampling_rate, noise_multiplier);
  const auto [lo_loss, hi_loss] =
      SampledGaussianLossRange(sampling_rate, noise_multiplier, direction, tail_mass);
  // Near P's median the computation switches from the lower form to the
  // upper one.
  const double median_loss =
      direction == PldDirection::kRemove ? loss.Loss(sampling_rate / 2) : -loss.Loss(0);
  const int64_t j_lo = static_cast<int64_t>(std::floor(lo_loss / interval));
  const int64_t j_hi = std::max(j_lo + 1, static_cast<int64_t>(std::ceil(hi_loss / interval)));
  const int64_t j_mid =
      std::clamp(static_cast<int64_t>(std::llround(median_loss / interval)), j_lo, j_hi);
  const size_t n = static_cast<size_t>(j_hi - j_lo + 1);

  // Connect the dots [DGKKM22]: with y = e^eps, delta is convex in y; the
  // grid PLD's delta is the piecewise-linear interpolation of delta(y) at the
  // grid points, through (0, 1) below them and flat (the infinity mass) above.
  // A mass at grid point j is y_j times the change of slope there. Slopes of
  // the lower form are the true slopes plus 1 ("shifted"), so that near the
  // bottom no -1 + 1 cancellation happens.
  std::vector<double> y(n);
  std::vector<double> slope(n + 1);  // slope[k]: left of point k; slope[n]: right of the last.
  std::vector<bool> shifted(n + 1, false);
  for (size_t k = 0; k < n; ++k) {
    y[k] = std::exp(static_cast<double>(j_lo + static_cast<int64_t>(k)) * interval);
  }
  const double dy_factor = std::expm1(interval);
  // Lower form at points j_lo..j_mid, upper form at j_mid..j_hi.
  using Form = SampledGaussianLoss::Form;
  std::vector<double> lower(n), upper(n);
  for (size_t k = 0; k < n; ++k) {
    const int64_t j = j_lo + static_cast<int64_t>(k);
    const double eps = static_cast<double>(j) * interval;
    if (j <= j_mid) lower[k] = loss.Delta(direction, Form::kLower, eps);
    if (j >= j_mid) upper[k] = loss.Delta(direction, Form::kUpper, eps);
  }
  if (j_mid > j_lo) {
    slope[0] = lower[0] / y[0];
    shifted[0] = true;
  } else {
    slope[0] = (upper[0] - 1) / y[0];
  }
  for (size_t k = 0; k + 1 < n; ++k) {
    const int64_t j = j_lo + static_cast<int64_t>(k);
    const double dy = y[k] * dy_factor;
    if (j < j_mid) {
      slope[k + 1] = (lower[k + 1] - lower[k]) / dy;
      shifted[k + 1] = true;
    } else {
      slope[k + 1] = (upper[k + 1] - upper[k]) / dy;
    }
  }
  slope[n] = 0;

  DiscretePld pld;
  pld.interval = interval;
  pld.first_index = j_lo;
  pld.masses.resize(n);
  for (size_t k = 0; k < n; ++k) {
    const double change =
        slope[k + 1] - slope[k] + (shifted[k] ? 1.0 : 0.0) - (shifted[k + 1] ? 1.0 : 0.0);
    // Convexity makes this >= 0; rounding can leave a tiny negative, and
    // raising it to 0 only adds mass (more pessimistic).
    pld.masses[k] = std::max(0.0, y[k] * change);
  }
  pld.infinity_mass = std::max(0.0, upper[n - 1]);
  return pld;
}

absl::StatusOr<DiscretePld> ComposePlds(absl::Span<const PldFactor> factors, double truncation_mass,
                                        int64_t max_points) {
  if (factors.empty()) return absl::InvalidArgumentError("ComposePlds: no factors");
  const double interval = factors[0].pld->interval;
  for (const PldFactor& f : factors) {
    if (f.pld->interval != interval) {
      return absl::InvalidArgumentError(
          absl::StrCat("ComposePlds: intervals differ (", interval, " vs ", f.pld->interval, ")"));
    }
  }

  // Chernoff bounds on the composed loss S (finite part): for lambda > 0,
  //   P[S >= t] <= e^(-lambda t) prod_f M_f(lambda)^count_f,
  //   P[S <= t] <= e^(lambda t) prod_f M_f(-lambda)^count_f.
  // The bound on t as a function of lambda, (log M(lambda) - log tail) /
  // lambda, is the slope from (0, log tail) to a point of a convex curve, so
  // it falls and then rises: the scan over lambda stops once it rises.
  std::vector<std::vector<double>> log_masses(factors.size());
  double support_lo = 0, support_hi = 0;  // Grid indices, as doubles (no overflow).
  double log_finite = 0;                  // log P[S finite]
  for (size_t f = 0; f < factors.size(); ++f) {
    const DiscretePld& pld = *factors[f].pld;
    const double count = static_cast<double>(factors[f].count);
    log_masses[f].resize(pld.masses.size());
    for (size_t i = 0; i < pld.masses.size(); ++i) {
      log_masses[f][i] = pld.masses[i] > 0 ? std::log(pld.masses[i]) : -kInf;
    }
    support_lo += count * static_cast<double>(pld.first_index);
    support_hi +=
        count * static_cast<double>(pld.first_index + static_cast<int64_t>(pld.masses.size()) - 1);
    log_finite += count * std::log1p(-pld.infinity_mass);
  }
  const double log_tail = std::log(truncation_mass);
  auto tail_bound = [&](double lambda) {  // The t of the bounds above, for lambda or -lambda.
    double log_mgf = 0;
    for (size_t f = 0; f < factors.size(); ++f) {
      log_mgf +=
          static_cast<double>(factors[f].count) * LogMgf(*factors[f].pld, log_masses[f], lambda);
    }
    return (log_mgf - log_tail) / lambda;
  };
  constexpr double kLambdas[] = {1.0 / 16, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  double upper_loss = kInf, lower_loss = -kInf;
  for (double lambda : kLambdas) {
    const double t = tail_bound(lambda);
    if (t > upper_loss) break;
    upper_loss = t;
  }
  for (double lambda : kLambdas) {
    const double t = tail_bound(-lambda);
    if (t < lower_loss) break;
    lower_loss = t;
  }
  const bool cut_above = upper_loss / interval < support_hi;
  const bool cut_below = lower_loss / interval > support_lo;
  const double hi = cut_above ? std::ceil(upper_loss / interval) : support_hi;
  const double lo = cut_below ? std::floor(lower_loss / interval) : support_lo;
  if (!(hi - lo + 1 <= static_cast<double>(max_points))) {
    return absl::ResourceExhaustedError(absl::StrCat("ComposePlds: the composed loss spans ",
                                                     (hi - lo + 1), " points of ", interval,
                                                     ", more than ", max_points));
  }
  const int64_t first = static_cast<int64_t>(lo);
  const int64_t width = std::max<int64_t>(1, static_cast<int64_t>(hi) - first + 1);
  const int64_t n = FftSize(width);

  // Cyclic convolution on n points: a mass at grid index s sits at s mod n.
  // Whatever lies outside [first, first + n) wraps around into the window;
  // it is at most truncation_mass per side, and is also counted as infinity
  // mass below, so the wrapped copy only adds (pessimistic) mass.
  Eigen::FFT<double> fft;
  fft.SetFlag(Eigen::FFT<double>::HalfSpectrum);
  const size_t bins = static_cast<size_t>(n / 2 + 1);
  std::vector<double> buffer(static_cast<size_t>(n));
  std::vector<std::complex<double>> spectrum(bins), product(bins, {1.0, 0.0});
  for (const PldFactor& f : factors) {
    std::fill(buffer.begin(), buffer.end(), 0.0);
    const DiscretePld& pld = *f.pld;
    for (size_t i = 0; i < pld.masses.size(); ++i) {
      buffer[Mod(pld.first_index + static_cast<int64_t>(i), n)] += pld.masses[i];
    }
    fft.fwd(spectrum.data(), buffer.data(), n);
    for (size_t b = 0; b < bins; ++b) {
      const std::complex<double> p = Power(spectrum[b], f.count);
      const std::complex<double> prev = product[b];
      product[b] = {prev.real() * p.real() - prev.imag() * p.imag(),
                    prev.real() * p.imag() + prev.imag() * p.real()};
    }
  }
  fft.inv(buffer.data(), product.data(), n);

  DiscretePld out;
  out.interval = interval;
  out.first_index = first;
  out.masses.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    // FFT rounding leaves values of about 1e-17 where the mass is 0.
    out.masses[r] = std::max(0.0, buffer[Mod(first + r, n)]);
  }
  out.infinity_mass = -std::expm1(log_finite) + (cut_above ? truncation_mass : 0) +
                      (cut_below ? truncation_mass : 0);
  out.infinity_mass = std::min(1.0, out.infinity_mass);
  return out;
}

}  // namespace cohort::privacy
