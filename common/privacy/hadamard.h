// The randomized Hadamard rotation x -> H D x / sqrt(P) that the distributed
// discrete Gaussian mechanism applies to every record's vector before
// rounding it to integers (Kairouz, Liu, Steinke, "The Distributed Discrete
// Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML
// 2021, arXiv:2102.06387, Algorithm 1, "flatten"):
//   - x (length dim) is zero-padded to P = padded_dim, the next power of two;
//   - D is a diagonal of random signs, derived from a public seed;
//   - H is the P x P Sylvester-Hadamard matrix (entries +-1,
//     H[i][j] = (-1)^popcount(i & j)), applied by the fast Walsh-Hadamard
//     transform in O(P log P).
// H D / sqrt(P) is orthonormal: norms are preserved exactly (up to double
// rounding) and the inverse is D H / sqrt(P) followed by dropping the padding.
// The point of the rotation is utility, not privacy: it spreads a vector's
// norm evenly over the coordinates (each rotated coordinate of x is about
// ||x|| / sqrt(P) in size), which keeps the rounding error and the modular
// sum's range small.
//
// The signs: key = the first 16 bytes of SHA-256("cohort/privacy/randomized-
// hadamard/v1" || 0x00 || seed); the AES-128-CTR stream of crypto::AesCtrPrg
// under that key, read as 64-bit words w_0, w_1, ..., gives D[i] = -1 if bit
// (i mod 64) of w_(i / 64) is 1 and +1 otherwise. Hashing lets every byte of
// a long seed matter and separates this use of a round's seed from others.
//
// Security: the seed is public per-round randomness shared by all sites (they
// must use the same rotation for their sums to add up) and the coordinator
// (to invert it). Privacy does not depend on D: any orthonormal map keeps the
// L2 sensitivity. The flattening bound assumes D is independent of the data,
// so the seed must be fixed after the sites' data (e.g. derived by the
// coordinator per round), not chosen by a site.
//
// Thread-safety: immutable after Create; safe to share across threads.
#ifndef COHORT_COMMON_PRIVACY_HADAMARD_H_
#define COHORT_COMMON_PRIVACY_HADAMARD_H_

#include <cstddef>
#include <vector>

#include <Eigen/Core>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace cohort::privacy {

// Largest dim Create accepts (P <= 2^24).
inline constexpr int kMaxRotationDim = 1 << 24;
// Shortest seed Create accepts.
inline constexpr size_t kMinRotationSeedSize = 16;

class RandomizedHadamard {
 public:
  // InvalidArgument unless 1 <= dim <= kMaxRotationDim and seed has at least
  // kMinRotationSeedSize bytes. Internal if OpenSSL fails.
  static absl::StatusOr<RandomizedHadamard> Create(int dim, absl::string_view seed);

  int dim() const { return dim_; }
  // The next power of two >= dim (1 for dim 1).
  int padded_dim() const { return padded_dim_; }

  // out = H D pad(in) / sqrt(padded_dim). Requires in.size() == dim() and
  // out.size() == padded_dim() (aborts otherwise; the spans must not overlap).
  void Rotate(absl::Span<const double> in, absl::Span<double> out) const;
  // out = the first dim() coordinates of D H in / sqrt(padded_dim): the
  // inverse of Rotate, and on vectors outside its range the orthogonal
  // projection onto it followed by the inverse. Requires in.size() ==
  // padded_dim() and out.size() == dim() (aborts otherwise).
  void InverseRotate(absl::Span<const double> in, absl::Span<double> out) const;

  // Batch versions, one record per row: RotateRows maps rows x dim to
  // rows x padded_dim, InverseRotateRows the reverse. The transform runs on
  // whole columns (contiguous in Eigen's column-major layout), so it
  // vectorizes across records. Abort if the column count is wrong.
  Eigen::MatrixXd RotateRows(const Eigen::MatrixXd& rows) const;
  Eigen::MatrixXd InverseRotateRows(const Eigen::MatrixXd& rows) const;

  // D's diagonal for the first dim() coordinates (+1 or -1), for tests.
  const std::vector<double>& signs() const { return signs_; }

 private:
  RandomizedHadamard(int dim, int padded_dim, std::vector<double> signs)
      : dim_(dim), padded_dim_(padded_dim), signs_(std::move(signs)) {}

  int dim_;
  int padded_dim_;
  std::vector<double> signs_;  // D[0..dim)
};

}  // namespace cohort::privacy

#endif  // COHORT_COMMON_PRIVACY_HADAMARD_H_
