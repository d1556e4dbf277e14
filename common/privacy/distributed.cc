#include "common/privacy/distributed.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numbers>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/privacy/rounding.h"
#include "common/util/status_macros.h"

namespace cohort::privacy {
namespace {

// DecodeSum converts sums to double exactly only below this magnitude.
constexpr int64_t kMaxDecodableMagnitude = int64_t{1} << 53;
// Bounds on the number of conditional-rounding attempts per record.
constexpr int kMinRoundingTries = 64;
constexpr int kMaxRoundingTries = 1 << 20;

absl::Status InvalidField(absl::string_view field, absl::string_view requirement, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat("DistributedSumParams.", field, " must be ", requirement, ", got ", value));
}

bool PositiveFinite(double x) { return x > 0 && std::isfinite(x); }

absl::Status ValidateFields(const DistributedSumParams& p) {
  if (p.dim < 1 || p.dim > kMaxRotationDim) {
    return InvalidField("dim", absl::StrCat("in [1, ", kMaxRotationDim, "]"), p.dim);
  }
  if (!PositiveFinite(p.clip)) return InvalidField("clip", "finite and > 0", p.clip);
  if (!PositiveFinite(p.noise_multiplier)) {
    return InvalidField("noise_multiplier", "finite and > 0", p.noise_multiplier);
  }
  if (p.honest_sites < 1) return InvalidField("honest_sites", ">= 1", p.honest_sites);
  if (!PositiveFinite(p.granularity)) {
    return InvalidField("granularity", "finite and > 0", p.granularity);
  }
  if (!(p.clip / p.granularity <= kMaxScaledClip)) {
    return absl::InvalidArgumentError(
        absl::StrCat("DistributedSumParams.granularity must be >= clip / ", kMaxScaledClip, " = ",
                     p.clip / kMaxScaledClip, ", got ", p.granularity));
  }
  if (!(p.beta >= 0) || !(p.beta < 1)) return InvalidField("beta", "in [0, 1)", p.beta);
  return absl::OkStatus();
}

// Attempts per record so that beta^tries <= 2^-40 (each attempt succeeds with
// probability >= 1 - beta for a clipped record).
int RoundingTries(double beta) {
  if (beta == 0) return kMinRoundingTries;
  const double tries = std::ceil(kNoiseTailBits * std::numbers::ln2 / std::log(1 / beta));
  return static_cast<int>(std::clamp(tries, double{kMinRoundingTries}, double{kMaxRoundingTries}));
}

}  // namespace

double DefaultGranularity(double clip, int dim) {
  if (!(clip > 0)) return std::numeric_limits<double>::quiet_NaN();
  const auto padded = static_cast<double>(std::bit_ceil(static_cast<unsigned>(std::max(dim, 1))));
  return clip / std::max(256.0, 4 * std::sqrt(padded));
}

double SumOfDiscreteGaussiansTau(double sigma, int num_summands) {
  const double a = 2 * std::numbers::pi * std::numbers::pi * sigma * sigma;
  double sum = 0;
  for (int k = 1; k < num_summands; ++k) {
    sum += std::exp(-a * k / (k + 1.0));
  }
  return 10 * sum;
}

absl::StatusOr<DistributedSumEncoder> DistributedSumEncoder::Create(
    const DistributedSumParams& params, absl::string_view rotation_seed) {
  RETURN_IF_ERROR(ValidateFields(params));
  if (rotation_seed.size() < kMinRotationSeedSize) {
    return absl::InvalidArgumentError(absl::StrCat("rotation_seed must have at least ",
                                                   kMinRotationSeedSize, " bytes, got ",
                                                   rotation_seed.size()));
  }
  ASSIGN_OR_RETURN(RandomizedHadamard rotation,
                   RandomizedHadamard::Create(params.dim, rotation_seed));
  const int padded = rotation.padded_dim();
  const double sensitivity =
      ConditionalRoundingBound(params.clip / params.granularity, padded, params.beta);
  const double site_sigma =
      params.noise_multiplier * sensitivity / std::sqrt(static_cast<double>(params.honest_sites));
  if (!(site_sigma >= kMinSiteSigma) || !(site_sigma <= kMaxDiscreteGaussianSigma)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DistributedSumParams.noise_multiplier ", params.noise_multiplier,
        " gives a per-site sigma of ", site_sigma, " integer units (noise_multiplier * ",
        sensitivity, " / sqrt(", params.honest_sites, ")), outside [", kMinSiteSigma, ", ",
        kMaxDiscreteGaussianSigma, "]; change noise_multiplier or granularity"));
  }
  ASSIGN_OR_RETURN(DiscreteGaussianSampler sampler, DiscreteGaussianSampler::Create(site_sigma));
  const double exact_sigma = sampler.sigma();
  const double rdp_slack =
      SumOfDiscreteGaussiansTau(exact_sigma, params.honest_sites) * static_cast<double>(padded);
  // P[some |noise_j| >= lambda] <= 2 P exp(-lambda^2 / (2 sigma^2)) = 2^-40.
  const double log_inverse_failure = std::log(2.0 * padded) + kNoiseTailBits * std::numbers::ln2;
  const auto noise_bound =
      static_cast<int64_t>(std::ceil(exact_sigma * std::sqrt(2 * log_inverse_failure)));
  return DistributedSumEncoder(params, std::move(rotation), sampler, sensitivity, rdp_slack,
                               RoundingTries(params.beta), noise_bound);
}

double DistributedSumEncoder::effective_noise_multiplier() const {
  return std::sqrt(static_cast<double>(params_.honest_sites)) * site_sigma() / sensitivity_;
}

absl::StatusOr<std::vector<int64_t>> DistributedSumEncoder::EncodeSum(const Eigen::MatrixXd& rows,
                                                                      absl::BitGenRef gen,
                                                                      int64_t* num_clipped) const {
  const int padded = padded_dim();
  std::vector<int64_t> sum(static_cast<size_t>(padded), 0);
  int64_t clipped = 0;
  if (rows.rows() > 0) {
    if (rows.cols() != params_.dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("rows has ", rows.cols(), " columns, expected dim = ", params_.dim));
    }
    if (rows.rows() > kMaxRecordsPerSite) {
      return absl::InvalidArgumentError(
          absl::StrCat("rows has ", rows.rows(), " records, more than ", kMaxRecordsPerSite));
    }
    if (!rows.allFinite()) {
      for (Eigen::Index i = 0; i < rows.rows(); ++i) {
        for (Eigen::Index j = 0; j < rows.cols(); ++j) {
          if (!std::isfinite(rows(i, j))) {
            return absl::InvalidArgumentError(
                absl::StrCat("rows(", i, ", ", j, ") is not finite: ", rows(i, j)));
          }
        }
      }
    }
    // Clip to `clip` and express in integer units.
    Eigen::MatrixXd scaled = rows;
    for (Eigen::Index i = 0; i < scaled.rows(); ++i) {
      const double norm = scaled.row(i).stableNorm();
      double factor = 1 / params_.granularity;
      if (norm > params_.clip) {
        factor *= params_.clip / norm;
        ++clipped;
      }
      scaled.row(i) *= factor;
    }
    // One record per column, so each is contiguous for ConditionalRound.
    const Eigen::MatrixXd rotated = rotation_.RotateRows(scaled).transpose();
    for (Eigen::Index r = 0; r < rotated.cols(); ++r) {
      absl::StatusOr<std::vector<int64_t>> rounded =
          ConditionalRound(absl::MakeConstSpan(rotated.col(r).data(), static_cast<size_t>(padded)),
                           sensitivity_, gen, rounding_tries_);
      if (!rounded.ok()) {
        return absl::Status(rounded.status().code(),
                            absl::StrCat("record ", r, ": ", rounded.status().message()));
      }
      for (int j = 0; j < padded; ++j) sum[j] += (*rounded)[j];
    }
  }
  for (int64_t& v : sum) v += sampler_.Sample(gen);
  if (num_clipped != nullptr) *num_clipped = clipped;
  return sum;
}

absl::StatusOr<Eigen::VectorXd> DistributedSumEncoder::DecodeSum(
    absl::Span<const int64_t> sum) const {
  if (sum.size() != static_cast<size_t>(padded_dim())) {
    return absl::InvalidArgumentError(
        absl::StrCat("sum has ", sum.size(), " values, expected padded_dim = ", padded_dim()));
  }
  std::vector<double> real(sum.size());
  for (size_t j = 0; j < sum.size(); ++j) {
    if (sum[j] > kMaxDecodableMagnitude || sum[j] < -kMaxDecodableMagnitude) {
      return absl::InvalidArgumentError(
          absl::StrCat("sum[", j, "] = ", sum[j], " is too large to be a sum of encodings"));
    }
    real[j] = static_cast<double>(sum[j]) * params_.granularity;
  }
  Eigen::VectorXd out(params_.dim);
  rotation_.InverseRotate(real, absl::MakeSpan(out.data(), static_cast<size_t>(out.size())));
  return out;
}

int64_t DistributedSumEncoder::MaxAbsCoordinate(int64_t max_records) const {
  if (max_records < 0 || max_records > kMaxRecordsPerSite) {
    std::fprintf(stderr,
                 "DistributedSumEncoder::MaxAbsCoordinate: check failed: 0 <= max_records <= "
                 "kMaxRecordsPerSite (got %lld)\n",
                 static_cast<long long>(max_records));
    std::fflush(stderr);
    std::abort();
  }
  // Delta <= 2^24 + 2^12 + ... < 2^25 and max_records <= 2^32: no overflow.
  const auto per_record = static_cast<int64_t>(std::floor(sensitivity_));
  return max_records * per_record + noise_bound_;
}

}  // namespace cohort::privacy
