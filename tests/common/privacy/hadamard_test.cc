#include "common/privacy/hadamard.h"

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::privacy {
namespace {

using ::testing::HasSubstr;

const std::string kSeed = "round-7 public seed, 32 bytes..";

std::vector<double> RandomVector(int n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = normal(gen);
  return v;
}

double Norm(absl::Span<const double> v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

RandomizedHadamard MakeRotation(int dim, const std::string& seed = kSeed) {
  auto rotation = RandomizedHadamard::Create(dim, seed);
  EXPECT_TRUE(rotation.ok()) << rotation.status();
  return *std::move(rotation);
}

std::vector<double> Rotate(const RandomizedHadamard& r, absl::Span<const double> x) {
  std::vector<double> out(static_cast<size_t>(r.padded_dim()));
  r.Rotate(x, absl::MakeSpan(out));
  return out;
}

std::vector<double> InverseRotate(const RandomizedHadamard& r, absl::Span<const double> y) {
  std::vector<double> out(static_cast<size_t>(r.dim()));
  r.InverseRotate(y, absl::MakeSpan(out));
  return out;
}

TEST(RandomizedHadamardTest, CreateValidates) {
  EXPECT_EQ(RandomizedHadamard::Create(0, kSeed).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RandomizedHadamard::Create(kMaxRotationDim + 1, kSeed).status().code(),
            absl::StatusCode::kInvalidArgument);
  const auto short_seed = RandomizedHadamard::Create(8, std::string(15, 'x'));
  EXPECT_EQ(short_seed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(short_seed.status().message(), HasSubstr("seed"));
  EXPECT_TRUE(RandomizedHadamard::Create(8, std::string(16, 'x')).ok());
}

TEST(RandomizedHadamardTest, PaddedDimIsNextPowerOfTwo) {
  struct Case {
    int dim;
    int padded_dim;
  };
  const Case cases[] = {{.dim = 1, .padded_dim = 1},       {.dim = 2, .padded_dim = 2},
                        {.dim = 3, .padded_dim = 4},       {.dim = 30, .padded_dim = 32},
                        {.dim = 1024, .padded_dim = 1024}, {.dim = 1025, .padded_dim = 2048}};
  for (const Case& c : cases) {
    EXPECT_EQ(MakeRotation(c.dim).padded_dim(), c.padded_dim) << c.dim;
    EXPECT_EQ(MakeRotation(c.dim).dim(), c.dim);
  }
}

// Rotating e_j gives column j of H D / sqrt(P): D[j] times column j of the
// Sylvester-Hadamard matrix, H[i][j] = (-1)^popcount(i & j), built here
// independently of the fast transform.
TEST(RandomizedHadamardTest, MatchesExplicitMatrix) {
  for (int dim : {1, 5, 8, 13}) {
    const RandomizedHadamard r = MakeRotation(dim);
    const int p = r.padded_dim();
    for (int j = 0; j < dim; ++j) {
      std::vector<double> e(static_cast<size_t>(dim), 0.0);
      e[j] = 1;
      const std::vector<double> column = Rotate(r, e);
      for (int i = 0; i < p; ++i) {
        const double h = (std::popcount(static_cast<unsigned>(i & j)) % 2 == 0) ? 1.0 : -1.0;
        EXPECT_NEAR(column[i], r.signs()[j] * h / std::sqrt(double(p)), 1e-15)
            << "dim " << dim << " (" << i << ", " << j << ")";
      }
    }
  }
}

TEST(RandomizedHadamardTest, PreservesNormAndInverts) {
  for (int dim : {1, 2, 30, 100, 4096, 5000}) {
    const RandomizedHadamard r = MakeRotation(dim);
    const std::vector<double> x = RandomVector(dim, 11 + dim);
    const std::vector<double> y = Rotate(r, x);
    EXPECT_NEAR(Norm(y), Norm(x), 1e-12 * Norm(x)) << dim;
    const std::vector<double> back = InverseRotate(r, y);
    for (int i = 0; i < dim; ++i) EXPECT_NEAR(back[i], x[i], 1e-12) << dim << " " << i;
  }
}

TEST(RandomizedHadamardTest, FlattensASpike) {
  // A vector concentrated on one coordinate is spread evenly: every rotated
  // coordinate has magnitude ||x|| / sqrt(P).
  const RandomizedHadamard r = MakeRotation(1000);
  std::vector<double> x(1000, 0.0);
  x[17] = 32;
  for (double v : Rotate(r, x)) EXPECT_NEAR(std::abs(v), 1.0, 1e-12);
}

TEST(RandomizedHadamardTest, InverseProjectsOutsideTheRange) {
  // y with mass in the padding directions: InverseRotate(y) is the inverse of
  // y's orthogonal projection onto the range, so rotating it back and taking
  // the inverse again is idempotent and never increases the norm.
  const RandomizedHadamard r = MakeRotation(5);
  const std::vector<double> y = RandomVector(r.padded_dim(), 3);
  const std::vector<double> x = InverseRotate(r, y);
  EXPECT_LE(Norm(x), Norm(y) + 1e-12);
  const std::vector<double> x2 = InverseRotate(r, Rotate(r, x));
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(x2[i], x[i], 1e-12);
}

TEST(RandomizedHadamardTest, SignsDependOnlyOnTheSeed) {
  const RandomizedHadamard a = MakeRotation(300);
  const RandomizedHadamard b = MakeRotation(300);
  EXPECT_EQ(a.signs(), b.signs());
  const std::vector<double> x = RandomVector(300, 5);
  EXPECT_EQ(Rotate(a, x), Rotate(b, x));

  // A seed that differs only after byte 16 still changes the signs (the
  // whole seed is hashed).
  std::string other_seed = kSeed;
  other_seed[20] ^= 1;
  const RandomizedHadamard c = MakeRotation(300, other_seed);
  int differing = 0;
  for (int i = 0; i < 300; ++i) differing += a.signs()[i] != c.signs()[i];
  EXPECT_GT(differing, 100);
  EXPECT_LT(differing, 200);

  // The signs of a prefix do not depend on dim.
  const RandomizedHadamard shorter = MakeRotation(70);
  for (int i = 0; i < 70; ++i) EXPECT_EQ(shorter.signs()[i], a.signs()[i]);
  // And they are balanced.
  int negative = 0;
  for (double s : a.signs()) {
    EXPECT_TRUE(s == 1.0 || s == -1.0);
    negative += s < 0;
  }
  EXPECT_GT(negative, 100);
  EXPECT_LT(negative, 200);
}

TEST(RandomizedHadamardTest, BatchMatchesOneRowAtATime) {
  for (int dim : {1, 7, 64, 100}) {
    const RandomizedHadamard r = MakeRotation(dim);
    const int records = 9;
    Eigen::MatrixXd rows(records, dim);
    for (int i = 0; i < records; ++i) {
      const std::vector<double> x = RandomVector(dim, 100 * dim + i);
      for (int j = 0; j < dim; ++j) rows(i, j) = x[j];
    }
    const Eigen::MatrixXd rotated = r.RotateRows(rows);
    ASSERT_EQ(rotated.rows(), records);
    ASSERT_EQ(rotated.cols(), r.padded_dim());
    for (int i = 0; i < records; ++i) {
      const Eigen::VectorXd row = rows.row(i).transpose();
      const std::vector<double> expected =
          Rotate(r, absl::MakeConstSpan(row.data(), static_cast<size_t>(dim)));
      for (int j = 0; j < r.padded_dim(); ++j) EXPECT_NEAR(rotated(i, j), expected[j], 1e-13);
    }
    const Eigen::MatrixXd back = r.InverseRotateRows(rotated);
    ASSERT_EQ(back.cols(), dim);
    EXPECT_LT((back - rows).cwiseAbs().maxCoeff(), 1e-12);
  }
  // No records: empty in, empty out.
  const RandomizedHadamard r = MakeRotation(3);
  EXPECT_EQ(r.RotateRows(Eigen::MatrixXd(0, 3)).rows(), 0);
}

TEST(RandomizedHadamardDeathTest, WrongSizesAbort) {
  const RandomizedHadamard r = MakeRotation(5);
  std::vector<double> five(5), eight(8), seven(7);
  EXPECT_DEATH(r.Rotate(seven, absl::MakeSpan(eight)), "in.size\\(\\) == dim\\(\\)");
  EXPECT_DEATH(r.Rotate(five, absl::MakeSpan(seven)), "out.size\\(\\) == padded_dim\\(\\)");
  EXPECT_DEATH(r.InverseRotate(seven, absl::MakeSpan(five)), "in.size\\(\\) == padded_dim");
  EXPECT_DEATH(r.InverseRotate(eight, absl::MakeSpan(seven)), "out.size\\(\\) == dim");
  EXPECT_DEATH(r.RotateRows(Eigen::MatrixXd(2, 4)), "rows.cols\\(\\) == dim");
  EXPECT_DEATH(r.InverseRotateRows(Eigen::MatrixXd(2, 5)), "rows.cols\\(\\) == padded_dim");
}

}  // namespace
}  // namespace cohort::privacy
