// The distributed discrete Gaussian mechanism for one step of federated
// DP-SGD under secure aggregation: each site turns the clipped per-record
// gradients of its sampled records into an integer vector carrying a share of
// the noise, secure aggregation adds the sites' vectors, and the coordinator
// decodes the sum. Only the aggregated sum carries the full noise, so no
// single hospital's contribution needs to be private on its own.
//
// Reference: Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian
// Mechanism for Federated Learning with Secure Aggregation", ICML 2021
// (arXiv:2102.06387; result numbers are the arXiv version's). Their client
// (Algorithm 1) encodes one vector per client; Cohort's unit of privacy is
// ONE PATIENT RECORD at a site, so the site applies their per-client steps to
// each record and adds the noise once to the sum:
//
//   site, for each record's vector x (length dim):
//     x <- x * min(1, clip / ||x||_2)              (clip to L2 norm clip)
//     x <- x / granularity                         (one integer unit = gamma)
//     x <- H D x / sqrt(P)                         (common/privacy/hadamard.h)
//     x~ <- conditional rounding of x, ||x~||_2 <= Delta  (rounding.h)
//   site sends: sum over records of x~  +  N_Z(0, site_sigma^2)^P
//   coordinator: S = the sum over sites (secure aggregation, then centered);
//     estimate = granularity * (first dim coordinates of D H S / sqrt(P)).
//
// Units and parameters (P = padded_dim, gamma = granularity, c = clip):
//   Delta      = ConditionalRoundingBound(c / gamma, P, beta): the L2 norm of
//                any record's rounded vector, hence the L2 sensitivity of the
//                integer sum to adding or removing one record (replacing one
//                record moves it by up to 2 Delta).
//   site_sigma = noise_multiplier * Delta / sqrt(h), the per-site discrete
//                Gaussian parameter in integer units, so the noise of h
//                honest sites adds up to about noise_multiplier * Delta.
//   tau        = 10 sum_{k=1}^{h-1} exp(-2 pi^2 site_sigma^2 k / (k + 1)),
//                rdp_slack = tau * P.
// Privacy (Kairouz et al., Proposition 14 / Eq. 17, the core of their
// Theorem 1, which assumes site_sigma >= 1/2): if at least h sites add their
// noise honestly, then for add/remove of one record the released integer sum
// satisfies Renyi DP of every order alpha >= 1 with
//   eps(alpha) <= alpha * Delta^2 / (2 h site_sigma^2) + tau * P
//              =  alpha / (2 z^2) + rdp_slack(),  z = effective_noise_multiplier(),
// even when the adversary knows every other site's input and noise. The sum
// of h discrete Gaussians is not itself a discrete Gaussian; rdp_slack is the
// price of that, negligible once site_sigma is a few units. The accountant
// (common/privacy/accountant.h) composes these steps with Poisson
// subsampling; pass it effective_noise_multiplier() and rdp_slack() (its
// discrete-Gaussian-sum event).
//
// Security: the privacy argument needs (1) the per-record norm bound, which
// rounding enforces exactly; (2) fresh noise per call from a
// cryptographically secure generator, drawn by the exact sampler of
// common/privacy/discrete_gaussian.h; (3) at least h sites that really add
// noise, an assumption of the study, not something the code can check.
// Everything else EncodeSum reveals to its caller (num_clipped, the rare
// ResourceExhausted of rounding) depends on the data and must stay at the
// site. The rotation seed is public, shared per round by all sites and the
// coordinator (hadamard.h). Wrapping around the secure-aggregation modulus
// would not weaken privacy (it is post-processing) but would corrupt the
// sum: size the modulus with MaxAbsCoordinate.
//
// Ownership and thread-safety: an encoder owns its rotation and noise
// sampler, is immutable after Create, and may be shared across threads; the
// generator passed to EncodeSum is not synchronised.
#ifndef COHORT_COMMON_PRIVACY_DISTRIBUTED_H_
#define COHORT_COMMON_PRIVACY_DISTRIBUTED_H_

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/privacy/discrete_gaussian.h"
#include "common/privacy/hadamard.h"

namespace cohort::privacy {

// Most records one EncodeSum call (and MaxAbsCoordinate) accepts.
inline constexpr int64_t kMaxRecordsPerSite = int64_t{1} << 32;
// Largest clip / granularity, the norm bound in integer units.
inline constexpr double kMaxScaledClip = 1 << 24;
// Smallest per-site sigma: Kairouz et al.'s Theorem 1 assumes sigma >= 1/2.
inline constexpr double kMinSiteSigma = 0.5;
// MaxAbsCoordinate's noise bound fails with probability <= 2^-this per call.
inline constexpr int kNoiseTailBits = 40;

struct DistributedSumParams {
  int dim = 0;                   // length of each per-record vector, in [1, 2^24]
  double clip = 0;               // L2 bound c of each per-record vector (longer ones are
                                 // scaled down to c); finite, > 0
  double noise_multiplier = 0;   // z: the noise of h honest sites has std about z * Delta
                                 // (Delta = integer L2 sensitivity); finite, > 0
  int honest_sites = 0;          // h >= 1: the fewest sites assumed to add their noise;
                                 // each adds variance (z * Delta)^2 / h
  double granularity = 0;        // gamma: one integer unit = gamma in real units;
                                 // finite, > 0, clip / gamma <= 2^24 (DefaultGranularity)
  double beta = std::exp(-0.5);  // conditional rounding parameter, in [0, 1)
};

// gamma = clip / max(256, 4 sqrt(P)), P = the next power of two >= dim.
// Rounding adds about P / 4 to Delta^2 (rounding.h), so c / gamma >= 4 sqrt(P)
// keeps Delta within about 1% of c / gamma (0.2% for P = 32, under the
// 256 floor), and the rounding noise, variance <= 1/4 per
// coordinate and record, stays tiny next to the DP noise ((z Delta)^2 >=
// 65536 z^2). A site's output needs about log2(records * Delta) bits.
// NaN unless clip > 0 (Create then rejects it); dim < 1 is treated as 1.
double DefaultGranularity(double clip, int dim);

// tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k / (k + 1)) for a sum of n
// discrete Gaussians N_Z(0, sigma^2) (Kairouz et al., Proposition 14); 0 for
// n <= 1.
double SumOfDiscreteGaussiansTau(double sigma, int num_summands);

class DistributedSumEncoder {
 public:
  // Validates every field; InvalidArgument naming the field (and its value)
  // if dim, clip, noise_multiplier, honest_sites, granularity or beta is out
  // of the range documented on DistributedSumParams, if the resulting
  // site_sigma falls outside [kMinSiteSigma, kMaxDiscreteGaussianSigma]
  // (names noise_multiplier), or if rotation_seed is shorter than 16 bytes.
  // Internal if OpenSSL fails.
  static absl::StatusOr<DistributedSumEncoder> Create(const DistributedSumParams& params,
                                                      absl::string_view rotation_seed);

  const DistributedSumParams& params() const { return params_; }
  const RandomizedHadamard& rotation() const { return rotation_; }
  int padded_dim() const { return rotation_.padded_dim(); }
  // Delta, in integer units: ConditionalRoundingBound(clip / gamma, P, beta).
  double sensitivity() const { return sensitivity_; }
  // The per-site discrete Gaussian sigma in integer units, exactly as sampled
  // (DiscreteGaussianSampler::sigma(), within 2^-40 relative of
  // noise_multiplier * Delta / sqrt(h)).
  double site_sigma() const { return sampler_.sigma(); }
  // tau * padded_dim (see the file comment).
  double rdp_slack() const { return rdp_slack_; }
  // sqrt(h) * site_sigma() / sensitivity(): the noise multiplier the
  // accountant should use (equal to noise_multiplier up to the rational
  // rounding of site_sigma^2).
  double effective_noise_multiplier() const;

  // Site side. `rows`: one per-record vector per row (records x dim); zero
  // rows is allowed (a site without sampled records still sends its noise),
  // in which case the column count is not checked. Clips each row to `clip`,
  // scales it by 1 / gamma, rotates it, rounds it conditionally, sums the
  // integer rows and adds N_Z(0, site_sigma^2) to each of the padded_dim
  // coordinates. `num_clipped`, if not null, receives the number of rows that
  // were scaled down. Returns:
  //   InvalidArgument    rows.cols() != dim (with rows), more than
  //                      kMaxRecordsPerSite rows, or a non-finite entry
  //                      (names its row and column);
  //   ResourceExhausted  conditional rounding failed for a row (probability
  //                      below 2^-40 per row).
  absl::StatusOr<std::vector<int64_t>> EncodeSum(const Eigen::MatrixXd& rows, absl::BitGenRef gen,
                                                 int64_t* num_clipped = nullptr) const;

  // Coordinator side: from the (already centered, i.e. signed) integer sum
  // over sites of EncodeSum outputs, the estimate of the sum of the clipped
  // rows: gamma times the inverse rotation, length dim. InvalidArgument if
  // sum.size() != padded_dim() or an entry's magnitude exceeds 2^53 (no
  // valid sum is that large, and doubles would round it).
  absl::StatusOr<Eigen::VectorXd> DecodeSum(absl::Span<const int64_t> sum) const;

  // A bound on |coordinate| of one site's EncodeSum output for up to
  // max_records records: max_records * floor(Delta) (each rounded record's
  // coordinates are integers of magnitude <= Delta) plus
  // ceil(site_sigma * sqrt(2 ln(2 P 2^40))), which a discrete Gaussian
  // exceeds in any of the P coordinates with probability <= 2^-40 (it is
  // site_sigma-subgaussian, Canonne, Kamath, Steinke 2020). The sum of n
  // sites' outputs is within n times this bound except with probability
  // n 2^-40. Requires 0 <= max_records <= kMaxRecordsPerSite (aborts
  // otherwise).
  int64_t MaxAbsCoordinate(int64_t max_records) const;

 private:
  DistributedSumEncoder(const DistributedSumParams& params, RandomizedHadamard rotation,
                        DiscreteGaussianSampler sampler, double sensitivity, double rdp_slack,
                        int rounding_tries, int64_t noise_bound)
      : params_(params),
        rotation_(std::move(rotation)),
        sampler_(sampler),
        sensitivity_(sensitivity),
        rdp_slack_(rdp_slack),
        rounding_tries_(rounding_tries),
        noise_bound_(noise_bound) {}

  DistributedSumParams params_;
  RandomizedHadamard rotation_;
  DiscreteGaussianSampler sampler_;
  double sensitivity_;
  double rdp_slack_;
  int rounding_tries_;   // failure probability beta^tries <= 2^-40
  int64_t noise_bound_;  // the noise term of MaxAbsCoordinate
};

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_DISTRIBUTED_H_
