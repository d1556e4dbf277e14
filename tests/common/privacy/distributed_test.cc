#include "common/privacy/distributed.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "common/privacy/rounding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;

const std::string kSeed = "round 12: 32 public random bytes";

// Records x dim, each row a Gaussian direction with norm uniform in
// (0, max_norm).
Eigen::MatrixXd RandomRows(int records, int dim, double max_norm, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.0, max_norm);
  Eigen::MatrixXd rows(records, dim);
  for (int i = 0; i < records; ++i) {
    for (int j = 0; j < dim; ++j) rows(i, j) = normal(gen);
    rows.row(i) *= uniform(gen) / rows.row(i).norm();
  }
  return rows;
}

Eigen::VectorXd SumOfClippedRows(const Eigen::MatrixXd& rows, double clip) {
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(rows.cols());
  for (int i = 0; i < rows.rows(); ++i) {
    const double norm = rows.row(i).norm();
    sum += rows.row(i).transpose() * (norm > clip ? clip / norm : 1.0);
  }
  return sum;
}

double StdDev(const std::vector<double>& v) {
  double sum = 0;
  double sum_squares = 0;
  for (double x : v) {
    sum += x;
    sum_squares += x * x;
  }
  const double n = static_cast<double>(v.size());
  return std::sqrt(sum_squares / n - (sum / n) * (sum / n));
}

class DistributedSumTest : public ::testing::Test {
 protected:
  // The running example: clip 1, dim 30, noise multiplier 1, 3 honest sites.
  static DistributedSumParams ExampleParams() {
    DistributedSumParams params;
    params.dim = 30;
    params.clip = 1;
    params.noise_multiplier = 1;
    params.honest_sites = 3;
    params.granularity = DefaultGranularity(params.clip, params.dim);
    return params;
  }

  static DistributedSumEncoder MakeEncoder(const DistributedSumParams& params) {
    auto encoder = DistributedSumEncoder::Create(params, kSeed);
    EXPECT_TRUE(encoder.ok()) << encoder.status();
    return *std::move(encoder);
  }

  // The coordinator's view: the sum over sites of each site's EncodeSum.
  static std::vector<int64_t> SumOverSites(const DistributedSumEncoder& encoder,
                                           const std::vector<Eigen::MatrixXd>& site_rows,
                                           std::mt19937_64& gen) {
    std::vector<int64_t> total(static_cast<size_t>(encoder.padded_dim()), 0);
    for (const Eigen::MatrixXd& rows : site_rows) {
      const auto encoded = encoder.EncodeSum(rows, gen);
      EXPECT_TRUE(encoded.ok()) << encoded.status();
      if (!encoded.ok()) continue;
      for (size_t j = 0; j < total.size(); ++j) total[j] += (*encoded)[j];
    }
    return total;
  }
};

TEST_F(DistributedSumTest, ExampleNumbers) {
  const DistributedSumParams params = ExampleParams();
  EXPECT_EQ(params.granularity, 1.0 / 256);
  const DistributedSumEncoder encoder = MakeEncoder(params);
  const double delta = ConditionalRoundingBound(256, 32, std::exp(-0.5));
  const double site_sigma = delta / std::sqrt(3.0);
  const int64_t noise_bound = static_cast<int64_t>(
      std::ceil(site_sigma * std::sqrt(2 * (std::log(64.0) + 40 * std::numbers::ln2))));
  EXPECT_EQ(encoder.padded_dim(), 32);
  EXPECT_NEAR(encoder.sensitivity(), 256.5206198868324, 1e-12);
  EXPECT_NEAR(encoder.sensitivity(), delta, 1e-12);
  EXPECT_NEAR(encoder.site_sigma(), site_sigma, 1e-9);
  EXPECT_LT(encoder.rdp_slack(), 1e-300);
  EXPECT_NEAR(encoder.effective_noise_multiplier(), 1, 1e-12);
  EXPECT_EQ(encoder.MaxAbsCoordinate(300), 300 * 256 + noise_bound);
  EXPECT_EQ(encoder.MaxAbsCoordinate(0), noise_bound);
  std::cout << "example: padded_dim=" << encoder.padded_dim()
            << " granularity=" << params.granularity << " sensitivity=" << encoder.sensitivity()
            << " site_sigma=" << encoder.site_sigma() << " rdp_slack=" << encoder.rdp_slack()
            << " MaxAbsCoordinate(300)=" << encoder.MaxAbsCoordinate(300) << "\n";
}

TEST(DefaultGranularityTest, Values) {
  struct Case {
    double clip;
    int dim;
    double granularity;
  };
  const Case cases[] = {
      {.clip = 1, .dim = 30, .granularity = 1.0 / 256},
      {.clip = 0.5, .dim = 1, .granularity = 0.5 / 256},
      {.clip = 1, .dim = 4096, .granularity = 1.0 / 256},  // 4 sqrt(4096) = 256
      {.clip = 1, .dim = 5000, .granularity = 1 / (4 * std::sqrt(8192.0))},
      {.clip = 2, .dim = 1 << 20, .granularity = 2.0 / 4096},
  };
  for (const Case& c : cases) {
    EXPECT_DOUBLE_EQ(DefaultGranularity(c.clip, c.dim), c.granularity) << c.dim;
  }
  EXPECT_TRUE(std::isnan(DefaultGranularity(0, 10)));
}

TEST_F(DistributedSumTest, CreateNamesTheInvalidField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::function<void(DistributedSumParams&)> mutate;
    std::string field;
  };
  const Case cases[] = {
      {[](auto& p) { p.dim = 0; }, "dim"},
      {[](auto& p) { p.dim = kMaxRotationDim + 1; }, "dim"},
      {[](auto& p) { p.clip = 0; }, "clip"},
      {[&](auto& p) { p.clip = nan; }, "clip"},
      {[&](auto& p) { p.clip = inf; }, "clip"},
      {[](auto& p) { p.noise_multiplier = 0; }, "noise_multiplier"},
      {[](auto& p) { p.noise_multiplier = -1; }, "noise_multiplier"},
      {[&](auto& p) { p.noise_multiplier = nan; }, "noise_multiplier"},
      {[](auto& p) { p.noise_multiplier = 1e-3; }, "noise_multiplier"},  // site sigma < 1/2
      {[](auto& p) { p.noise_multiplier = 1e5; }, "noise_multiplier"},   // site sigma > 2^20
      {[](auto& p) { p.honest_sites = 0; }, "honest_sites"},
      {[](auto& p) { p.honest_sites = -2; }, "honest_sites"},
      {[](auto& p) { p.granularity = 0; }, "granularity"},
      {[&](auto& p) { p.granularity = nan; }, "granularity"},
      {[](auto& p) { p.granularity = 1e-9; }, "granularity"},  // clip / gamma > 2^24
      {[](auto& p) { p.beta = -0.1; }, "beta"},
      {[](auto& p) { p.beta = 1; }, "beta"},
      {[&](auto& p) { p.beta = nan; }, "beta"},
  };
  for (const Case& c : cases) {
    DistributedSumParams params = ExampleParams();
    c.mutate(params);
    const auto encoder = DistributedSumEncoder::Create(params, kSeed);
    EXPECT_EQ(encoder.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_THAT(encoder.status().message(), HasSubstr(c.field));
  }
  const auto short_seed = DistributedSumEncoder::Create(ExampleParams(), "15 bytes only..");
  EXPECT_EQ(short_seed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_seed.status().message(), HasSubstr("rotation_seed"));

  DistributedSumParams beta_zero = ExampleParams();
  beta_zero.beta = 0;
  ASSERT_TRUE(DistributedSumEncoder::Create(beta_zero, kSeed).ok());
  EXPECT_DOUBLE_EQ(MakeEncoder(beta_zero).sensitivity(), 256 + std::sqrt(32.0));
}

TEST_F(DistributedSumTest, DecodedSumOfThreeSitesMatchesTheClippedSum) {
  DistributedSumParams params = ExampleParams();
  params.noise_multiplier = 0.01;  // site sigma ~ 1.5 integer units
  // Each site builds its own encoder from the round's seed, as does the
  // coordinator: they agree because the rotation depends only on the seed.
  std::vector<Eigen::MatrixXd> site_rows;
  Eigen::VectorXd truth = Eigen::VectorXd::Zero(params.dim);
  int records = 0;
  for (int site = 0; site < 3; ++site) {
    site_rows.push_back(RandomRows(10 + site, params.dim, 2 * params.clip, 50 + site));
    truth += SumOfClippedRows(site_rows.back(), params.clip);
    records += 10 + site;
  }
  std::mt19937_64 gen(60);
  std::vector<int64_t> total(32, 0);
  for (int site = 0; site < 3; ++site) {
    const DistributedSumEncoder site_encoder = MakeEncoder(params);
    const auto encoded = site_encoder.EncodeSum(site_rows[site], gen);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    for (int j = 0; j < 32; ++j) total[j] += (*encoded)[j];
  }
  const DistributedSumEncoder coordinator = MakeEncoder(params);
  const auto decoded = coordinator.DecodeSum(total);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), params.dim);
  // Per decoded coordinate: rounding error variance <= records / 4 and noise
  // variance 3 site_sigma^2, in integer units (the inverse rotation is
  // orthonormal, so per-coordinate variances carry over). Allow 6 std.
  const double gamma = params.granularity;
  const double std_dev =
      gamma * std::sqrt(records / 4.0 + 3 * coordinator.site_sigma() * coordinator.site_sigma());
  for (int i = 0; i < params.dim; ++i) {
    EXPECT_NEAR((*decoded)[i], truth[i], 6 * std_dev) << i;
  }
  // And the estimate is informative: the error is far below the signal.
  EXPECT_LT((*decoded - truth).norm(), 0.1 * truth.norm());
}

TEST_F(DistributedSumTest, DecodedNoiseHasTheExpectedStdDev) {
  // Three sites with no records send noise only; decoded, each coordinate is
  // an orthonormal combination of 3 * P independent discrete Gaussians, with
  // std sqrt(3) site_sigma gamma.
  const DistributedSumParams params = ExampleParams();
  const DistributedSumEncoder encoder = MakeEncoder(params);
  std::mt19937_64 gen(70);
  std::vector<double> values;
  const std::vector<Eigen::MatrixXd> no_records(3, Eigen::MatrixXd(0, params.dim));
  for (int trial = 0; trial < 400; ++trial) {
    const auto decoded = encoder.DecodeSum(SumOverSites(encoder, no_records, gen));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    for (double v : *decoded) values.push_back(v);
  }
  const double expected = std::sqrt(3.0) * encoder.site_sigma() * params.granularity;
  // 12000 samples: relative standard error of the std about 0.65%.
  EXPECT_NEAR(StdDev(values) / expected, 1, 0.03);
}

TEST_F(DistributedSumTest, HonestSitesNoiseAddsUpToSigmaTimesDelta) {
  struct Case {
    double noise_multiplier;
    int honest_sites;
  };
  const Case cases[] = {{.noise_multiplier = 1, .honest_sites = 3},
                        {.noise_multiplier = 0.5, .honest_sites = 1},
                        {.noise_multiplier = 3, .honest_sites = 10}};
  for (const Case& c : cases) {
    DistributedSumParams params = ExampleParams();
    params.noise_multiplier = c.noise_multiplier;
    params.honest_sites = c.honest_sites;
    const DistributedSumEncoder encoder = MakeEncoder(params);
    EXPECT_NEAR(encoder.effective_noise_multiplier() / c.noise_multiplier, 1, 0.01);
    EXPECT_NEAR(encoder.site_sigma(),
                c.noise_multiplier * encoder.sensitivity() / std::sqrt(double(c.honest_sites)),
                1e-9 * encoder.site_sigma());

    std::mt19937_64 gen(80 + c.honest_sites);
    std::vector<double> values;
    const std::vector<Eigen::MatrixXd> no_records(static_cast<size_t>(c.honest_sites),
                                                  Eigen::MatrixXd());
    for (int trial = 0; trial < 300; ++trial) {
      for (int64_t v : SumOverSites(encoder, no_records, gen)) values.push_back(double(v));
    }
    // In integer units the h sites' noise has std z * Delta.
    EXPECT_NEAR(StdDev(values) / (c.noise_multiplier * encoder.sensitivity()), 1, 0.03)
        << c.noise_multiplier << " " << c.honest_sites;
  }
}

TEST_F(DistributedSumTest, ClipsLongRowsAndCountsThem) {
  DistributedSumParams params = ExampleParams();
  params.noise_multiplier = 0.01;
  const DistributedSumEncoder encoder = MakeEncoder(params);
  Eigen::MatrixXd rows = Eigen::MatrixXd::Zero(3, params.dim);
  rows(0, 4) = 10;   // norm 10: scaled to norm 1
  rows(1, 7) = 0.5;  // within the clip
  rows(2, 0) = 3;    // norm 5: scaled to norm 1
  rows(2, 1) = -4;
  std::mt19937_64 gen(90);
  int64_t num_clipped = -1;
  const auto encoded = encoder.EncodeSum(rows, gen, &num_clipped);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(num_clipped, 2);
  const auto decoded = encoder.DecodeSum(*encoded);
  ASSERT_TRUE(decoded.ok());
  Eigen::VectorXd expected = Eigen::VectorXd::Zero(params.dim);
  expected[4] = 1;
  expected[7] = 0.5;
  expected[0] = 0.6;
  expected[1] = -0.8;
  const double tolerance =
      6 * params.granularity * std::sqrt(3 / 4.0 + encoder.site_sigma() * encoder.site_sigma());
  for (int i = 0; i < params.dim; ++i) EXPECT_NEAR((*decoded)[i], expected[i], tolerance) << i;
}

TEST_F(DistributedSumTest, RdpSlack) {
  // Realistic parameters: no slack worth mentioning.
  EXPECT_LT(MakeEncoder(ExampleParams()).rdp_slack(), 1e-100);
  // One honest site adds a plain discrete Gaussian: no slack at all.
  DistributedSumParams one_site = ExampleParams();
  one_site.honest_sites = 1;
  one_site.noise_multiplier = 0.003;  // site sigma ~ 0.77
  EXPECT_EQ(MakeEncoder(one_site).rdp_slack(), 0);

  // Small per-site sigma: compare with tau * P computed here, and check the
  // slack grows as site_sigma shrinks.
  double previous_slack = 0;
  double previous_sigma = std::numeric_limits<double>::infinity();
  for (double z : {0.02, 0.012, 0.008, 0.005, 0.0035}) {
    DistributedSumParams params = ExampleParams();
    params.noise_multiplier = z;
    const DistributedSumEncoder encoder = MakeEncoder(params);
    const double s = encoder.site_sigma();
    const double a = 2 * std::numbers::pi * std::numbers::pi * s * s;
    const double tau = 10 * (std::exp(-a / 2) + std::exp(-a * 2 / 3));
    EXPECT_NEAR(encoder.rdp_slack(), 32 * tau, 1e-12 * 32 * tau) << z;
    EXPECT_DOUBLE_EQ(SumOfDiscreteGaussiansTau(s, 3), tau);
    EXPECT_LT(s, previous_sigma);
    EXPECT_GT(encoder.rdp_slack(), previous_slack) << z;
    previous_sigma = s;
    previous_slack = encoder.rdp_slack();
  }
  EXPECT_GT(previous_slack, 1);  // site sigma ~ 0.52: the bound is useless
  EXPECT_EQ(SumOfDiscreteGaussiansTau(1, 1), 0);
}

TEST_F(DistributedSumTest, OutputsStayWithinMaxAbsCoordinate) {
  const DistributedSumParams params = ExampleParams();
  const DistributedSumEncoder encoder = MakeEncoder(params);
  // Worst case for one coordinate: every record is the same vector, aligned
  // with a rotated basis vector, so each adds ~Delta to one coordinate.
  std::vector<double> e(32, 0.0);
  e[5] = 1;
  std::vector<double> direction(30);
  encoder.rotation().InverseRotate(e, absl::MakeSpan(direction));
  Eigen::MatrixXd rows(300, params.dim);
  for (int i = 0; i < 300; ++i) {
    for (int j = 0; j < params.dim; ++j) rows(i, j) = 5 * direction[j];
  }
  std::mt19937_64 gen(100);
  const int64_t bound = encoder.MaxAbsCoordinate(300);
  int64_t largest = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const auto encoded = encoder.EncodeSum(rows, gen);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    for (int64_t v : *encoded) {
      EXPECT_LE(std::abs(v), bound);
      largest = std::max(largest, std::abs(v));
    }
  }
  // The bound is not loose by much for such data.
  EXPECT_GT(largest, bound * 9 / 10);
  EXPECT_EQ(encoder.MaxAbsCoordinate(10) - encoder.MaxAbsCoordinate(9),
            static_cast<int64_t>(std::floor(encoder.sensitivity())));
}

TEST_F(DistributedSumTest, EncodeSumValidatesRows) {
  const DistributedSumEncoder encoder = MakeEncoder(ExampleParams());
  std::mt19937_64 gen(110);
  const auto wrong_width = encoder.EncodeSum(Eigen::MatrixXd::Zero(2, 29), gen);
  EXPECT_EQ(wrong_width.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong_width.status().message(), HasSubstr("dim"));
  Eigen::MatrixXd rows = Eigen::MatrixXd::Zero(3, 30);
  rows(1, 2) = std::numeric_limits<double>::quiet_NaN();
  const auto not_finite = encoder.EncodeSum(rows, gen);
  EXPECT_EQ(not_finite.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(not_finite.status().message(), HasSubstr("rows(1, 2)"));
  // No records: noise only, whatever the (empty) matrix's width.
  int64_t num_clipped = -1;
  const auto noise_only = encoder.EncodeSum(Eigen::MatrixXd(), gen, &num_clipped);
  ASSERT_TRUE(noise_only.ok()) << noise_only.status();
  EXPECT_EQ(noise_only->size(), 32u);
  EXPECT_EQ(num_clipped, 0);
}

TEST_F(DistributedSumTest, DecodeSumValidates) {
  const DistributedSumEncoder encoder = MakeEncoder(ExampleParams());
  EXPECT_EQ(encoder.DecodeSum(std::vector<int64_t>(30, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<int64_t> huge(32, 0);
  huge[3] = std::numeric_limits<int64_t>::min();
  const auto decoded = encoder.DecodeSum(huge);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("sum[3]"));
}

TEST_F(DistributedSumTest, SameGeneratorStateSameOutput) {
  const DistributedSumEncoder encoder = MakeEncoder(ExampleParams());
  const Eigen::MatrixXd rows = RandomRows(5, 30, 2, 120);
  std::mt19937_64 a(7);
  std::mt19937_64 b(7);
  EXPECT_EQ(*encoder.EncodeSum(rows, a), *encoder.EncodeSum(rows, b));
}

TEST(DistributedSumDeathTest, MaxAbsCoordinateDiesOnNegativeRecords) {
  DistributedSumParams params;
  params.dim = 4;
  params.clip = 1;
  params.noise_multiplier = 1;
  params.honest_sites = 1;
  params.granularity = DefaultGranularity(1, 4);
  const auto encoder = DistributedSumEncoder::Create(params, kSeed);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  EXPECT_DEATH(encoder->MaxAbsCoordinate(-1), "max_records");
  EXPECT_DEATH(encoder->MaxAbsCoordinate(kMaxRecordsPerSite + 1), "max_records");
}

}  // namespace
}  // namespace cohort::privacy
