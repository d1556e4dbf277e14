// The exact privacy curve of the Gaussian mechanism without subsampling
// (Balle & Wang, "Improving the Gaussian Mechanism for Differential Privacy:
// Analytical Calibration and Optimal Denoising", ICML 2018, Theorem 8).
//
// A Gaussian with L2 sensitivity 1 and noise standard deviation sigma,
// composed `count` times, is exactly as private as one Gaussian with
// mu = sqrt(count) / sigma, and is (epsilon, delta)-DP exactly when
//   delta >= Phi(-epsilon / mu + mu / 2) - e^epsilon Phi(-epsilon / mu - mu / 2).
// Cohort uses it as the independent reference for the PLD accountant at
// sampling rate 1. Pure functions; thread-safe.
#ifndef COHORT_COMMON_PRIVACY_ANALYTIC_GAUSSIAN_H_
#define COHORT_COMMON_PRIVACY_ANALYTIC_GAUSSIAN_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace cohort::privacy {

// delta(epsilon) above, for mu > 0 and any epsilon (the exponential term is
// taken in log space, so large epsilon gives 0 rather than NaN).
double AnalyticGaussianDelta(double mu, double epsilon);

// The smallest epsilon >= 0 with AnalyticGaussianDelta(sqrt(count) / sigma,
// epsilon) <= delta, by bisection to 1e-12 relative.
// InvalidArgument (naming the argument) unless noise_multiplier > 0,
// count >= 1 and delta is in (0, 1).
absl::StatusOr<double> AnalyticGaussianEpsilon(double noise_multiplier, int64_t count,
                                               double delta);

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_ANALYTIC_GAUSSIAN_H_
