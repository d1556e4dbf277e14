#include "crypto/shamir.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"

namespace cohort::crypto {
namespace {

constexpr size_t kLimbBytes = 7;
constexpr uint64_t kLimbBound = uint64_t{1} << (8 * kLimbBytes);  // 2^56 < p

size_t NumLimbs(size_t secret_size) { return (secret_size + kLimbBytes - 1) / kLimbBytes; }

// Limb `i` of `secret` as a little-endian integer; the last limb is
// zero-padded.
uint64_t ReadLimb(absl::Span<const uint8_t> secret, size_t i) {
  uint64_t limb = 0;
  const size_t begin = i * kLimbBytes;
  const size_t end = std::min(begin + kLimbBytes, secret.size());
  for (size_t b = end; b-- > begin;) limb = (limb << 8) | secret[b];
  return limb;
}

// Wipes a vector of secret field elements (polynomial coefficients, limbs).
void Cleanse(std::vector<uint64_t>& v) {
  if (!v.empty()) OPENSSL_cleanse(v.data(), v.size() * sizeof(uint64_t));
}

// Fills `out` with field elements uniform in [0, p): the low 61 bits of a
// uniform word are uniform in [0, 2^61), and the single value 2^61 - 1 = p is
// rejected and redrawn, so the accepted value is exactly uniform.
absl::Status RandomFieldElements(SecurePrng& prng, absl::Span<uint64_t> out) {
  if (out.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(prng.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()),
                                           out.size() * sizeof(uint64_t))));
  for (uint64_t& v : out) {
    v &= kShamirPrime;
    while (v == kShamirPrime) {
      uint64_t fresh = 0;
      RETURN_IF_ERROR(prng.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(&fresh), sizeof(fresh))));
      v = fresh & kShamirPrime;
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint64_t FieldAdd(uint64_t a, uint64_t b) {
  const uint64_t s = a + b;  // < 2^62, no overflow
  return s >= kShamirPrime ? s - kShamirPrime : s;
}

uint64_t FieldSub(uint64_t a, uint64_t b) { return a >= b ? a - b : a + kShamirPrime - b; }

uint64_t FieldMul(uint64_t a, uint64_t b) {
  // 2^61 = 1 (mod p), so a 122-bit product hi * 2^61 + lo reduces to hi + lo.
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  const uint64_t lo = static_cast<uint64_t>(product) & kShamirPrime;
  const uint64_t hi = static_cast<uint64_t>(product >> 61);
  uint64_t r = lo + hi;  // < 2^62
  r = (r & kShamirPrime) + (r >> 61);
  return r >= kShamirPrime ? r - kShamirPrime : r;
}

uint64_t FieldInverse(uint64_t a) {
  // Fermat: a^(p-2) = a^-1 for a != 0 (and 0 for a == 0).
  uint64_t result = 1;
  uint64_t base = a % kShamirPrime;
  for (uint64_t e = kShamirPrime - 2; e != 0; e >>= 1) {
    if (e & 1) result = FieldMul(result, base);
    base = FieldMul(base, base);
  }
  return result;
}

absl::StatusOr<std::vector<ShamirShare>> ShamirSplit(const SecretData& secret, int t, int n,
                                                     SecurePrng& prng) {
  if (n < 1 || t < 1 || t > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir threshold must satisfy 1 <= t <= n, got t=", t, " n=", n));
  }
  if (secret.empty()) return absl::InvalidArgumentError("Shamir secret must be non-empty");

  const size_t num_limbs = NumLimbs(secret.size());
  std::vector<ShamirShare> shares(n);
  for (int i = 0; i < n; ++i) {
    shares[i].x = static_cast<uint32_t>(i + 1);
    shares[i].values.resize(num_limbs);
  }
  // coefficients[1..t-1] of the current limb's polynomial; [0] is the limb.
  std::vector<uint64_t> coefficients(t);
  for (size_t limb = 0; limb < num_limbs; ++limb) {
    coefficients[0] = ReadLimb(secret.span(), limb);
    absl::Status status = RandomFieldElements(prng, absl::MakeSpan(coefficients).subspan(1));
    if (!status.ok()) {
      Cleanse(coefficients);
      return status;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t x = shares[i].x;
      uint64_t y = 0;  // Horner
      for (int k = t - 1; k >= 0; --k) y = FieldAdd(FieldMul(y, x), coefficients[k]);
      shares[i].values[limb] = y;
    }
  }
  Cleanse(coefficients);
  return shares;
}

absl::StatusOr<SecretData> ShamirReconstruct(absl::Span<const ShamirShare> shares, int t,
                                             size_t secret_size) {
  if (t < 1) return absl::InvalidArgumentError(absl::StrCat("Shamir threshold must be >= 1, got ", t));
  if (secret_size == 0) return absl::InvalidArgumentError("Shamir secret size must be non-zero");
  if (shares.size() < static_cast<size_t>(t)) {
    return absl::InvalidArgumentError(absl::StrCat("Shamir reconstruction needs ", t,
                                                   " shares, got ", shares.size()));
  }
  const size_t num_limbs = NumLimbs(secret_size);
  const absl::Span<const ShamirShare> used = shares.subspan(0, t);
  std::vector<uint32_t> xs;
  for (size_t i = 0; i < used.size(); ++i) {
    const ShamirShare& share = used[i];
    if (share.x == 0) {
      return absl::InvalidArgumentError(absl::StrCat("Shamir share ", i, " has x = 0"));
    }
    xs.push_back(share.x);
    if (share.values.size() != num_limbs) {
      return absl::InvalidArgumentError(
          absl::StrCat("Shamir share ", i, " (x = ", share.x, ") has ", share.values.size(),
                       " limbs, expected ", num_limbs, " for a ", secret_size, "-byte secret"));
    }
    for (size_t limb = 0; limb < num_limbs; ++limb) {
      if (share.values[limb] >= kShamirPrime) {
        return absl::InvalidArgumentError(absl::StrCat(
            "Shamir share ", i, " (x = ", share.x, ") limb ", limb, " is outside the field"));
      }
    }
  }
  std::sort(xs.begin(), xs.end());
  if (auto dup = std::adjacent_find(xs.begin(), xs.end()); dup != xs.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Shamir shares repeat x = ", *dup, "; each holder's x must be distinct"));
  }

  // Lagrange basis at 0: lambda_i = prod_{j != i} x_j / (x_j - x_i).
  std::vector<uint64_t> lambda(t);
  for (int i = 0; i < t; ++i) {
    uint64_t numerator = 1;
    uint64_t denominator = 1;
    for (int j = 0; j < t; ++j) {
      if (j == i) continue;
      numerator = FieldMul(numerator, used[j].x);
      denominator = FieldMul(denominator, FieldSub(used[j].x, used[i].x));
    }
    lambda[i] = FieldMul(numerator, FieldInverse(denominator));
  }

  SecretData secret(secret_size);
  for (size_t limb = 0; limb < num_limbs; ++limb) {
    uint64_t value = 0;
    for (int i = 0; i < t; ++i) value = FieldAdd(value, FieldMul(lambda[i], used[i].values[limb]));
    const size_t begin = limb * kLimbBytes;
    const size_t width = std::min(kLimbBytes, secret_size - begin);
    // A limb holds `width` bytes; anything above them means the shares do not
    // come from one sharing of a secret of this size.
    if (value >= kLimbBound || (value >> (8 * width)) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Shamir reconstruction of limb ", limb,
          " is out of range: the shares are inconsistent or from a different secret"));
    }
    for (size_t b = 0; b < width; ++b) {
      secret.data()[begin + b] = static_cast<uint8_t>(value >> (8 * b));
    }
  }
  return secret;
}

}  // namespace cohort::crypto
