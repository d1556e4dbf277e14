// Rényi differential privacy (RDP) curves of the mechanisms Cohort releases,
// and their conversion to (epsilon, delta)-DP. The building blocks of
// RdpEpsilon() in accountant.h; most callers want that instead.
//
// A mechanism is (a, r)-RDP when the Rényi divergence of order a between its
// outputs on any two adjacent data sets (add/remove one record) is at most r.
// RDP composes by addition at each order, which is how RdpEpsilon() accounts
// for many training rounds.
//
//   [MTZ19] I. Mironov, K. Talwar, L. Zhang. "Rényi Differential Privacy of
//           the Sampled Gaussian Mechanism." arXiv:1908.10530, 2019.
//   [ZW19]  Y. Zhu, Y.-X. Wang. "Poisson Subsampled Rényi Differential
//           Privacy." ICML 2019.
//   [CKS20] C. Canonne, G. Kamath, T. Steinke. "The Discrete Gaussian for
//           Differential Privacy." NeurIPS 2020 (Proposition 12).
//
// Functions here take parameters that accountant.cc has already validated;
// each lists what it requires. All are pure and thread-safe.
#ifndef COHORT_COMMON_PRIVACY_RDP_H_
#define COHORT_COMMON_PRIVACY_RDP_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

namespace cohort::privacy {

// The orders at which RdpEpsilon() evaluates and minimizes: 1.1 to 10.9 in
// steps of 0.1 (plus 1.25, 1.75, 2.25), every integer 11..63, and a sparse
// tail 64..1024. This is a superset of the grids of Google's dp_accounting
// and of Opacus, so it never gives a larger epsilon than they would from the
// same curves. Sorted ascending.
absl::Span<const double> DefaultRdpOrders();

// RDP at `order` of the Gaussian mechanism (sensitivity 1, noise standard
// deviation `noise_multiplier`) applied to a Poisson subsample with rate
// `sampling_rate` [MTZ19]: log(A_a) / (a - 1) with A_a from the binomial
// expansion at integer orders (Section 3.2) and from the two-sided series at
// fractional ones (Section 3.3), all in log space. With sampling_rate == 1
// this is exactly order / (2 noise_multiplier^2).
// Requires sampling_rate in (0, 1], noise_multiplier > 0, order > 1.
double SampledGaussianRdp(double sampling_rate, double noise_multiplier, double order);

// [ZW19] Theorem 6: an RDP bound at integer `order` >= 2 for any mechanism
// whose own RDP curve is `base_rdp` (called at the integer orders 2..order),
// run on a Poisson subsample with rate `sampling_rate` in (0, 1). Never more
// than base_rdp(order), which also bounds the subsampled mechanism.
double PoissonSubsampledRdp(double sampling_rate, absl::FunctionRef<double(double)> base_rdp,
                            int64_t order);

// RDP at `order` (> 1) of a sum of discrete Gaussians (Kairouz, Liu, Steinke,
// "The Distributed Discrete Gaussian Mechanism for Federated Learning with
// Secure Aggregation", ICML 2021), whose own curve is
// order / (2 noise_multiplier^2) + rdp_slack. With sampling_rate < 1 this is
// the [ZW19] bound at ceil(order): the bound holds at integer orders only,
// and RDP does not decrease with the order.
// Requires sampling_rate in (0, 1], noise_multiplier > 0, rdp_slack >= 0.
double DiscreteGaussianSumRdp(double sampling_rate, double noise_multiplier, double rdp_slack,
                              double order);

// The smallest epsilon over `orders` for which a mechanism with RDP curve
// `rdp` (rdp[i] at orders[i]; orders > 1) is (epsilon, delta)-DP, by
// [CKS20] Proposition 12:
//   epsilon = rdp + log((a - 1) / a) - (log(delta) + log(a)) / (a - 1),
// or 0 where the Bretagnolle-Huber bound delta >= sqrt(1 - exp(-rdp)) already
// gives (0, delta)-DP. Never negative; +infinity if every rdp is infinite.
// Requires delta in (0, 1) and orders.size() == rdp.size().
struct RdpConversion {
  double epsilon;
  double order;  // The minimizing order (0 if epsilon is 0 by Bretagnolle-Huber).
};
RdpConversion RdpCurveToEpsilon(absl::Span<const double> orders, absl::Span<const double> rdp,
                                double delta);

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_RDP_H_
