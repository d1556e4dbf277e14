// The differential-privacy accountant: how much (epsilon, delta) a study
// spends through the noisy releases of its training rounds, and how much
// noise a target budget needs. Used wherever a study's privacy spend is
// computed (coordinator, site ledger) and by `cohort privacy`
// (tools/privacy_command.h).
//
// Releases are described as PrivacyEvents (one kind of release, repeated
// `count` times) under add/remove-one-record adjacency, with the L2
// sensitivity normalized to 1. Two accountants give upper bounds on epsilon:
//
//   * RDP (rdp.h): Rényi DP of the Poisson-subsampled Gaussian [MTZ19], of a
//     subsampled sum of discrete Gaussians via the general bound of [ZW19]
//     Theorem 6, composed by adding curves and converted with [CKS20]
//     Proposition 12, minimized over DefaultRdpOrders().
//   * PLD (pld.h): the privacy loss distribution of the Poisson-subsampled
//     Gaussian in both directions, discretized pessimistically (connect the
//     dots [DGKKM22]) and composed by FFT [KJH20]; typically 5-25% below
//     RDP (0.640 vs 0.724 and 1.098 vs 1.416 on the two published DP-SGD
//     cases in the tests). Only for continuous Gaussian events.
//
// Both are upper bounds on the true epsilon, so Epsilon() reports the smaller.
// Results are deterministic (no randomness, no threads).
//
//   [MTZ19]   Mironov, Talwar, Zhang. "Rényi Differential Privacy of the
//             Sampled Gaussian Mechanism." arXiv:1908.10530, 2019.
//   [ZW19]    Zhu, Wang. "Poisson Subsampled Rényi Differential Privacy."
//             ICML 2019.
//   [CKS20]   Canonne, Kamath, Steinke. "The Discrete Gaussian for
//             Differential Privacy." NeurIPS 2020.
//   [KLS21]   Kairouz, Liu, Steinke. "The Distributed Discrete Gaussian
//             Mechanism for Federated Learning with Secure Aggregation."
//             ICML 2021.
//   [KJH20]   Koskela, Jälkö, Honkela. "Computing Tight Differential Privacy
//             Guarantees Using FFT." AISTATS 2020.
//   [DGKKM22] Doroshenko, Ghazi, Kamath, Kumar, Manurangsi. "Connect the
//             Dots: Tighter Discrete Approximations of Privacy Loss
//             Distributions." PoPETS 2022.
//
// Thread-safety: all functions are pure and may be called concurrently.
#ifndef COHORT_COMMON_PRIVACY_ACCOUNTANT_H_
#define COHORT_COMMON_PRIVACY_ACCOUNTANT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::privacy {

// One kind of release, repeated `count` times; sensitivity normalized to 1
// (noise std = noise_multiplier * L2 sensitivity). Add/remove-one-record
// adjacency.
struct PrivacyEvent {
  enum class Mechanism {
    kGaussian,             // continuous Gaussian noise
    kDiscreteGaussianSum,  // sum of discrete Gaussians from >= h honest sites [KLS21]: its
                           // RDP at order a is a/(2 sigma^2) + rdp_slack
  };
  Mechanism mechanism = Mechanism::kGaussian;
  double sampling_rate = 1.0;   // Poisson subsampling rate q in (0, 1]
  double noise_multiplier = 0;  // sigma > 0
  double rdp_slack = 0;         // kDiscreteGaussianSum only (tau * d), >= 0
  int64_t count = 1;            // >= 1 repetitions (composition)
};

enum class AccountantKind { kRdp, kPld };

// "rdp" / "pld".
absl::string_view AccountantName(AccountantKind accountant);

struct EpsilonBound {
  double epsilon;
  AccountantKind accountant;
};

// Epsilon of the composition of `events` at `delta` by the RDP accountant.
// Never negative; +infinity only if some RDP is infinite.
// Errors: InvalidArgument naming the bad field ("events[2].noise_multiplier:
// must be finite and > 0, got 0") for a sampling_rate outside (0, 1], a
// noise_multiplier <= 0, a count < 1, an rdp_slack < 0 (or any non-finite
// value), a delta outside (0, 1), or no events.
absl::StatusOr<double> RdpEpsilon(absl::Span<const PrivacyEvent> events, double delta);

// Epsilon of the composition of `events` at `delta` by the PLD accountant.
// Never negative; +infinity if the discretization's infinity mass alone
// exceeds delta. Typically a few to tens of milliseconds; the grid is
// coarsened (losing tightness, never validity) where it would exceed a few
// million points, e.g. at sampling rates around 1e-6.
// Errors: those of RdpEpsilon; InvalidArgument for any kDiscreteGaussianSum
// event (there is no PLD bound for it); OutOfRange if a noise_multiplier is so
// small (privacy losses beyond e^600) that the PLD cannot be represented;
// ResourceExhausted if the composed PLD is too wide even on a coarse grid.
absl::StatusOr<double> PldEpsilon(absl::Span<const PrivacyEvent> events, double delta);

// The smaller of the valid bounds: RDP always, PLD when every event is
// kGaussian (RDP wins ties). Errors: those of RdpEpsilon.
absl::StatusOr<EpsilonBound> Epsilon(absl::Span<const PrivacyEvent> events, double delta);

// The smallest noise multiplier (within 1e-3 relative, rounded up so that the
// target is met) for which `steps` Poisson-subsampled Gaussian events with
// `sampling_rate` cost at most `epsilon` at `delta` by `accountant`. The
// search covers [1e-3, 1e6]: if 1e-3 already meets the target, returns 1e-3.
// Noise multipliers the PLD cannot represent count as not meeting it.
// Errors: InvalidArgument naming the argument unless epsilon > 0 and finite,
// delta in (0, 1), sampling_rate in (0, 1] and steps >= 1; OutOfRange if even
// a noise multiplier of 1e6 does not meet the target.
absl::StatusOr<double> NoiseMultiplierFor(double epsilon, double delta, double sampling_rate,
                                          int64_t steps, AccountantKind accountant);

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_ACCOUNTANT_H_
