#include "common/privacy/hadamard.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/prg.h"
#include "crypto/secret_data.h"
#include "crypto/sha256.h"

namespace cohort::privacy {
namespace {

// Domain separation for the key derivation (documented in the header).
constexpr absl::string_view kSignsDomain = "cohort/privacy/randomized-hadamard/v1";

// Programmer preconditions (span and matrix shapes): not an error channel.
void CheckShape(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "RandomizedHadamard: check failed: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

// The unnormalized Walsh-Hadamard transform of v (length a power of two), in
// place: log2(n) rounds of butterflies (a, b) -> (a + b, a - b).
void WalshHadamard(absl::Span<double> v) {
  const size_t n = v.size();
  for (size_t half = 1; half < n; half *= 2) {
    for (size_t block = 0; block < n; block += 2 * half) {
      for (size_t j = block; j < block + half; ++j) {
        const double a = v[j];
        const double b = v[j + half];
        v[j] = a + b;
        v[j + half] = a - b;
      }
    }
  }
}

// The same transform applied to every row of m at once: butterflies between
// whole columns, each contiguous in Eigen's column-major storage, so the inner
// loop runs over records and vectorizes.
void WalshHadamardColumns(Eigen::MatrixXd& m) {
  const Eigen::Index n = m.cols();
  const Eigen::Index records = m.rows();
  for (Eigen::Index half = 1; half < n; half *= 2) {
    for (Eigen::Index block = 0; block < n; block += 2 * half) {
      for (Eigen::Index j = block; j < block + half; ++j) {
        double* a = m.col(j).data();
        double* b = m.col(j + half).data();
        for (Eigen::Index r = 0; r < records; ++r) {
          const double x = a[r];
          const double y = b[r];
          a[r] = x + y;
          b[r] = x - y;
        }
      }
    }
  }
}

}  // namespace

absl::StatusOr<RandomizedHadamard> RandomizedHadamard::Create(int dim, absl::string_view seed) {
  if (dim < 1 || dim > kMaxRotationDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation dim must be in [1, ", kMaxRotationDim, "], got ", dim));
  }
  if (seed.size() < kMinRotationSeedSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rotation seed must have at least ", kMinRotationSeedSize, " bytes, got ", seed.size()));
  }
  const int padded_dim = static_cast<int>(std::bit_ceil(static_cast<unsigned>(dim)));

  std::string message(kSignsDomain);
  message.push_back('\0');
  message.append(seed.data(), seed.size());
  const std::array<uint8_t, crypto::kSha256DigestSize> digest = crypto::Sha256(message);
  const crypto::SecretData key =
      crypto::SecretData::FromSpan(absl::MakeConstSpan(digest.data(), crypto::kPrgSeedSize));
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesCtrPrg> prg, crypto::AesCtrPrg::New(key));
  std::vector<uint64_t> words((static_cast<size_t>(dim) + 63) / 64);
  RETURN_IF_ERROR(prg->Expand(absl::MakeSpan(words), 64));

  std::vector<double> signs(static_cast<size_t>(dim));
  for (size_t i = 0; i < signs.size(); ++i) {
    signs[i] = ((words[i / 64] >> (i % 64)) & 1) != 0 ? -1.0 : 1.0;
  }
  return RandomizedHadamard(dim, padded_dim, std::move(signs));
}

void RandomizedHadamard::Rotate(absl::Span<const double> in, absl::Span<double> out) const {
  CheckShape(in.size() == static_cast<size_t>(dim_), "Rotate: in.size() == dim()");
  CheckShape(out.size() == static_cast<size_t>(padded_dim_), "Rotate: out.size() == padded_dim()");
  for (size_t i = 0; i < in.size(); ++i) out[i] = signs_[i] * in[i];
  std::fill(out.begin() + dim_, out.end(), 0.0);
  WalshHadamard(out);
  const double scale = 1.0 / std::sqrt(static_cast<double>(padded_dim_));
  for (double& v : out) v *= scale;
}

void RandomizedHadamard::InverseRotate(absl::Span<const double> in, absl::Span<double> out) const {
  CheckShape(in.size() == static_cast<size_t>(padded_dim_),
             "InverseRotate: in.size() == padded_dim()");
  CheckShape(out.size() == static_cast<size_t>(dim_), "InverseRotate: out.size() == dim()");
  std::vector<double> work(in.begin(), in.end());
  WalshHadamard(absl::MakeSpan(work));
  const double scale = 1.0 / std::sqrt(static_cast<double>(padded_dim_));
  for (size_t i = 0; i < out.size(); ++i) out[i] = signs_[i] * work[i] * scale;
}

Eigen::MatrixXd RandomizedHadamard::RotateRows(const Eigen::MatrixXd& rows) const {
  CheckShape(rows.cols() == dim_, "RotateRows: rows.cols() == dim()");
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(rows.rows(), padded_dim_);
  for (int j = 0; j < dim_; ++j) out.col(j) = signs_[j] * rows.col(j);
  WalshHadamardColumns(out);
  out *= 1.0 / std::sqrt(static_cast<double>(padded_dim_));
  return out;
}

Eigen::MatrixXd RandomizedHadamard::InverseRotateRows(const Eigen::MatrixXd& rows) const {
  CheckShape(rows.cols() == padded_dim_, "InverseRotateRows: rows.cols() == padded_dim()");
  Eigen::MatrixXd work = rows;
  WalshHadamardColumns(work);
  const double scale = 1.0 / std::sqrt(static_cast<double>(padded_dim_));
  Eigen::MatrixXd out(rows.rows(), dim_);
  for (int j = 0; j < dim_; ++j) out.col(j) = (signs_[j] * scale) * work.col(j);
  return out;
}

}  // namespace cohort::privacy
