#include "crypto/secagg/round_params.h"

#include <algorithm>
#include <cstring>

#include <openssl/crypto.h>

#include <array>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/hkdf.h"
#include "crypto/pki.h"
#include "crypto/prg.h"
#include "crypto/secagg/fault.h"
#include "crypto/secagg/transcript.h"
#include "crypto/sha256.h"

namespace cohort::secagg {
namespace {

constexpr size_t kMaxGraphSeedSize = 64;

}  // namespace

std::string ContextDigest(const v1::SecAggContext& c) {
  Transcript t("cohort/secagg/v1/context");
  t.Add(c.study_id()).AddInt(c.round()).AddInt(c.attempt());
  t.AddInt(c.participants_size());
  for (const std::string& p : c.participants()) t.Add(p);
  t.AddInt(c.threshold()).AddInt(c.degree()).AddInt(c.bits()).AddInt(c.vector_length());
  t.Add(c.graph_seed());
  std::array<uint8_t, crypto::kSha256DigestSize> d = crypto::Sha256(t.bytes());
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

namespace {

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("secure aggregation context: ", field, ": ", problem));
}

// The HKDF info of a per-pair derivation: the pair in a canonical order.
std::string PairInfo(absl::string_view label, const std::string& digest, absl::string_view a,
                     absl::string_view b) {
  Transcript t(label);
  t.Add(digest);
  if (b < a) std::swap(a, b);
  t.Add(a).Add(b);
  return t.bytes();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RoundParams>> RoundParams::Create(
    const v1::SecAggContext& context) {
  if (context.study_id().empty()) return Invalid("study_id", "empty");
  if (context.round() < 0) return Invalid("round", absl::StrCat(context.round(), " < 0"));
  if (context.attempt() < 0) return Invalid("attempt", absl::StrCat(context.attempt(), " < 0"));
  const int n = context.participants_size();
  if (n < 2) return Invalid("participants", absl::StrCat(n, " sites: need at least 2"));
  for (int i = 0; i < n; ++i) {
    if (absl::Status s = crypto::ValidateEntityName(context.participants(i)); !s.ok()) {
      return Invalid("participants", s.message());
    }
    if (i > 0 && !(context.participants(i - 1) < context.participants(i))) {
      return Invalid("participants", absl::StrCat("not sorted and unique at \"",
                                                  context.participants(i), "\""));
    }
  }
  if (context.bits() < 1 || context.bits() > 64) {
    return Invalid("bits", absl::StrCat(context.bits(), " is not in [1, 64]"));
  }
  if (context.vector_length() < 1 || context.vector_length() > kMaxVectorLength) {
    return Invalid("vector_length",
                   absl::StrCat(context.vector_length(), " is not in [1, ", kMaxVectorLength, "]"));
  }
  if (context.degree() < 1) return Invalid("degree", absl::StrCat(context.degree(), " < 1"));
  if (context.graph_seed().size() < 16 || context.graph_seed().size() > kMaxGraphSeedSize) {
    return Invalid("graph_seed", absl::StrCat(context.graph_seed().size(),
                                              " bytes is not in [16, ", kMaxGraphSeedSize, "]"));
  }
  ASSIGN_OR_RETURN(NeighbourGraph graph,
                   NeighbourGraph::Create(n, context.degree(), context.graph_seed()));
  const int neighbourhood = graph.degree() + 1;
  if (context.threshold() < 2 || context.threshold() > neighbourhood) {
    return Invalid("threshold",
                   absl::StrCat(context.threshold(), " is not in [2, ", neighbourhood,
                                "] (a neighbourhood is the site and its ", graph.degree(),
                                " neighbours)"));
  }
  std::string digest = ContextDigest(context);
  return std::shared_ptr<const RoundParams>(
      new RoundParams(context, std::move(digest), std::move(graph)));
}

RoundParams::RoundParams(v1::SecAggContext context, std::string digest, NeighbourGraph graph)
    : context_(std::move(context)), digest_(std::move(digest)), graph_(std::move(graph)) {
  for (int i = 0; i < context_.participants_size(); ++i) index_[context_.participants(i)] = i;
}

uint64_t RoundParams::value_mask() const {
  return bits() == 64 ? ~uint64_t{0} : (uint64_t{1} << bits()) - 1;
}

std::optional<int> RoundParams::IndexOf(absl::string_view site) const {
  auto it = index_.find(site);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

util::LogContext RoundParams::LogContextFor(absl::string_view site) const {
  return util::LogContext{context_.study_id(), context_.round(), std::string(site)};
}

std::string RoundParams::AdvertisementBytes(absl::string_view site,
                                            absl::string_view enc_public_key,
                                            absl::string_view mask_public_key) const {
  Transcript t("cohort/secagg/v1/advertise-keys");
  t.Add(digest_).Add(context_.study_id()).AddInt(context_.round()).AddInt(context_.attempt());
  t.AddInt(v1::PHASE_ADVERTISE_KEYS);
  t.Add(site).Add(enc_public_key).Add(mask_public_key);
  return t.bytes();
}

std::string RoundParams::ShareAssociatedData(absl::string_view sender,
                                             absl::string_view recipient) const {
  Transcript t("cohort/secagg/v1/share-keys-ciphertext");
  t.Add(digest_).Add(context_.study_id()).AddInt(context_.round()).AddInt(context_.attempt());
  t.AddInt(v1::PHASE_SHARE_KEYS);
  t.Add(sender).Add(recipient);
  return t.bytes();
}

absl::StatusOr<crypto::SecretData> RoundParams::DeriveShareKey(
    const crypto::X25519PrivateKey& own, absl::string_view peer_public_key, absl::string_view a,
    absl::string_view b) const {
  ASSIGN_OR_RETURN(crypto::SecretData shared, own.ComputeSharedSecret(peer_public_key));
  return crypto::HkdfSha256(shared, digest_,
                            PairInfo("cohort/secagg/v1/share-key", digest_, a, b), 32);
}

absl::StatusOr<crypto::SecretData> RoundParams::DerivePairwiseSeed(
    const crypto::X25519PrivateKey& own, absl::string_view peer_public_key, absl::string_view a,
    absl::string_view b) const {
  ASSIGN_OR_RETURN(crypto::SecretData shared, own.ComputeSharedSecret(peer_public_key));
  return crypto::HkdfSha256(shared, digest_,
                            PairInfo("cohort/secagg/v1/pairwise-mask", digest_, a, b),
                            crypto::kPrgSeedSize);
}

absl::Status ApplyMask(const crypto::SecretData& seed, absl::Span<uint64_t> values, int bits,
                       bool subtract) {
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesCtrPrg> prg, crypto::AesCtrPrg::New(seed));
  return prg->AddMask(values, bits, subtract);
}

v1::SecretShare ToProto(const crypto::ShamirShare& share) {
  v1::SecretShare out;
  out.set_x(share.x);
  out.mutable_values()->Add(share.values.begin(), share.values.end());
  return out;
}

crypto::ShamirShare FromProto(const v1::SecretShare& share) {
  crypto::ShamirShare out;
  out.x = share.x();
  out.values.assign(share.values().begin(), share.values().end());
  return out;
}

absl::Status CheckShare(const v1::SecretShare& share, uint32_t expected_x, size_t secret_size) {
  if (share.x() != expected_x) {
    return Fault(v1::MALFORMED, absl::StrCat("share at x = ", share.x(), ", expected x = ",
                                             expected_x));
  }
  if (static_cast<size_t>(share.values_size()) != ShareLimbs(secret_size)) {
    return Fault(v1::MALFORMED, absl::StrCat("share of ", share.values_size(),
                                             " field elements, expected ",
                                             ShareLimbs(secret_size)));
  }
  for (uint64_t v : share.values()) {
    if (v >= crypto::kShamirPrime) return Fault(v1::MALFORMED, "share value outside the field");
  }
  return absl::OkStatus();
}

void WipeString(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

void WipeShare(crypto::ShamirShare& share) {
  if (!share.values.empty()) {
    OPENSSL_cleanse(share.values.data(), share.values.size() * sizeof(uint64_t));
  }
  share.values.clear();
}

std::string PackValues(absl::Span<const uint64_t> values, int bits) {
  const size_t width = (static_cast<size_t>(bits) + 7) / 8;
  std::string out(values.size() * width, '\0');
  char* p = out.data();
  for (uint64_t v : values) {
    for (size_t b = 0; b < width; ++b) *p++ = static_cast<char>((v >> (8 * b)) & 0xff);
  }
  return out;
}

absl::StatusOr<std::vector<uint64_t>> UnpackValues(absl::string_view packed, int bits,
                                                   size_t count) {
  const size_t width = (static_cast<size_t>(bits) + 7) / 8;
  if (packed.size() != count * width) {
    return absl::InvalidArgumentError(absl::StrCat("packed values hold ", packed.size(),
                                                   " bytes, expected ", count * width));
  }
  std::vector<uint64_t> out(count);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(packed.data());
  for (size_t i = 0; i < count; ++i) {
    uint64_t v = 0;
    for (size_t b = 0; b < width; ++b) v |= uint64_t{*p++} << (8 * b);
    out[i] = v;
  }
  return out;
}

absl::Status CheckPackedValues(absl::string_view packed, int bits, size_t count) {
  const size_t width = (static_cast<size_t>(bits) + 7) / 8;
  if (packed.size() != count * width) {
    return absl::InvalidArgumentError(absl::StrCat("packed values hold ", packed.size(),
                                                   " bytes, expected ", count * width));
  }
  const int spare = static_cast<int>(width * 8) - bits;
  if (spare == 0) return absl::OkStatus();  // every bit pattern is a value
  const unsigned char top_mask = static_cast<unsigned char>(0xff << (8 - spare));
  for (size_t k = 0; k < count; ++k) {
    if ((static_cast<unsigned char>(packed[k * width + width - 1]) & top_mask) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("value ", k, " is not below 2^", bits));
    }
  }
  return absl::OkStatus();
}

void AddPackedValues(absl::string_view packed, int bits, absl::Span<uint64_t> sum) {
  const size_t width = (static_cast<size_t>(bits) + 7) / 8;
  const char* p = packed.data();
  const size_t n = std::min(sum.size(), packed.size() / width);
  if (width == 4) {
    for (size_t k = 0; k < n; ++k) {
      uint32_t v;
      std::memcpy(&v, p + 4 * k, 4);  // little-endian host (static_assert in prg.cc)
      sum[k] += v;
    }
    return;
  }
  if (width == 8) {
    for (size_t k = 0; k < n; ++k) {
      uint64_t v;
      std::memcpy(&v, p + 8 * k, 8);
      sum[k] += v;
    }
    return;
  }
  const unsigned char* b = reinterpret_cast<const unsigned char*>(p);
  for (size_t k = 0; k < n; ++k) {
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v |= uint64_t{b[k * width + i]} << (8 * i);
    sum[k] += v;
  }
}

}  // namespace cohort::secagg
