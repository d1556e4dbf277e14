// Micro-benchmarks of the primitives under Cohort's secure aggregation
// (docs/secure-aggregation.md): what one site or the coordinator pays per
// mask, per pair of sites and per secret.
//
//   BM_PrgExpand / BM_PrgAddMask   AES-128-CTR mask expansion of 10^6 values
//                                  mod 2^32 (bytes/s counts the 4 keystream
//                                  bytes each value consumes)
//   BM_UnmaskSequential/m,         the coordinator's unmasking of 10^6 values
//   BM_UnmaskBlocked/m             mod 2^32: m packed inputs plus m masks,
//                                  as one AddMask pass per mask over the
//                                  whole sum (the old way) and as one
//                                  MaskAccumulator pass (bytes/s counts
//                                  keystream only)
//   BM_VerifierFromCertificate     a site certificate checked against the CA
//                                  from PEMs (parses both every time)
//   BM_CertificateVerifierMiss /   the same through a CertificateVerifier: a
//   BM_CertificateVerifierHit      certificate seen for the first time, and
//                                  one seen before (validity re-check only)
//   BM_EcdsaVerify                 one advertisement signature (ECDSA P-256)
//   BM_X25519Agreement             one X25519 shared secret (per neighbour:
//                                  two on a client, one per link of a dropout
//                                  on the coordinator)
//   BM_HkdfSha256                  one pairwise key or seed derivation, with
//                                  the salt and info sizes the protocol uses
//   BM_AesGcmEncryptShare /        one neighbour's SharePayload (a share of
//   BM_AesGcmDecryptShare          the 32-byte mask key and of the 16-byte
//                                  self-mask seed) sealed with AES-256-GCM
//   BM_ShamirSplit/n               a 32-byte secret split for n holders,
//   BM_ShamirReconstruct/n         t = n/2 + 1, and rebuilt from t shares
//
// Speed targets are not here: bench/secagg_harness.cc prints them. Run from
// the repository root after a Release build:
//   cmake --build build --target cohort_bench_secagg_micro
//   ./build/bin/cohort_bench_secagg_micro
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "cohort/v1/secagg.pb.h"
#include "crypto/aes_gcm.h"
#include "crypto/hkdf.h"
#include "crypto/pki.h"
#include "crypto/prg.h"
#include "crypto/random.h"
#include "crypto/secagg/round_params.h"
#include "crypto/secagg/transcript.h"
#include "crypto/secret_data.h"
#include "crypto/shamir.h"
#include "crypto/signature.h"
#include "crypto/x25519.h"

namespace cohort::bench {
namespace {

constexpr int kMaskBits = 32;
constexpr size_t kMaskValues = 1'000'000;
// Keystream bytes one value consumes at bits <= 32.
constexpr int64_t kKeystreamBytesPerValue = 4;

// Set-up failures end the run: a broken primitive has no speed.
template <typename T>
T ValueOrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::fprintf(stderr, "set-up failed: %s\n", v.status().ToString().c_str());
    std::abort();
  }
  return std::move(*v);
}

crypto::SecretData RandomSecret(size_t size, uint64_t seed) {
  crypto::FakePrng prng(seed);
  return prng.RandomSecret(size).value();
}

void BM_PrgExpand(benchmark::State& state) {
  crypto::SecretData seed = RandomSecret(crypto::kPrgSeedSize, 1);
  std::unique_ptr<crypto::AesCtrPrg> prg = ValueOrDie(crypto::AesCtrPrg::New(seed));
  std::vector<uint64_t> out(kMaskValues);
  for (auto _ : state) {
    if (absl::Status s = prg->Expand(absl::MakeSpan(out), kMaskBits); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kMaskValues) *
                          kKeystreamBytesPerValue);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kMaskValues));
}
BENCHMARK(BM_PrgExpand)->Unit(benchmark::kMillisecond);

void BM_PrgAddMask(benchmark::State& state) {
  crypto::SecretData seed = RandomSecret(crypto::kPrgSeedSize, 2);
  std::unique_ptr<crypto::AesCtrPrg> prg = ValueOrDie(crypto::AesCtrPrg::New(seed));
  std::vector<uint64_t> values(kMaskValues, 0);
  for (auto _ : state) {
    if (absl::Status s = prg->AddMask(absl::MakeSpan(values), kMaskBits, /*subtract=*/false);
        !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(values.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kMaskValues) *
                          kKeystreamBytesPerValue);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kMaskValues));
}
BENCHMARK(BM_PrgAddMask)->Unit(benchmark::kMillisecond);

// m inputs of 10^6 packed uint32 each, and m mask seeds.
struct UnmaskInputs {
  std::vector<std::string> packed;
  std::vector<crypto::SecretData> seeds;
};

UnmaskInputs MakeUnmaskInputs(int m) {
  UnmaskInputs in;
  crypto::FakePrng prng(20);
  for (int i = 0; i < m; ++i) {
    crypto::SecretData bytes = prng.RandomSecret(kMaskValues * 4).value();
    in.packed.emplace_back(bytes.view());
    in.seeds.push_back(prng.RandomSecret(crypto::kPrgSeedSize).value());
  }
  return in;
}

void SetUnmaskCounters(benchmark::State& state, int m) {
  state.SetBytesProcessed(state.iterations() * m * static_cast<int64_t>(kMaskValues) *
                          kKeystreamBytesPerValue);
}

// The server's Finish before MaskAccumulator: add the packed inputs into a
// uint64 sum, then one AddMask pass over the 8 MB sum per mask.
void BM_UnmaskSequential(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const UnmaskInputs in = MakeUnmaskInputs(m);
  for (auto _ : state) {
    std::vector<uint64_t> sum(kMaskValues, 0);
    for (const std::string& packed : in.packed) {
      secagg::AddPackedValues(packed, kMaskBits, absl::MakeSpan(sum));
    }
    for (uint64_t& v : sum) v &= (uint64_t{1} << kMaskBits) - 1;
    for (const crypto::SecretData& seed : in.seeds) {
      std::unique_ptr<crypto::AesCtrPrg> prg = ValueOrDie(crypto::AesCtrPrg::New(seed));
      if (absl::Status s = prg->AddMask(absl::MakeSpan(sum), kMaskBits, true); !s.ok()) {
        state.SkipWithError(std::string(s.message()).c_str());
        break;
      }
    }
    benchmark::DoNotOptimize(sum.data());
  }
  SetUnmaskCounters(state, m);
}
BENCHMARK(BM_UnmaskSequential)->Arg(10)->Arg(100)->Unit(benchmark::kMillisecond);

void BM_UnmaskBlocked(benchmark::State& state) {
  const int m = static_cast<int>(state.range(0));
  const UnmaskInputs in = MakeUnmaskInputs(m);
  for (auto _ : state) {
    std::unique_ptr<crypto::MaskAccumulator> acc =
        ValueOrDie(crypto::MaskAccumulator::New(kMaskValues, kMaskBits));
    for (const std::string& packed : in.packed) (void)acc->AddPacked(packed);
    for (const crypto::SecretData& seed : in.seeds) (void)acc->AddMask(seed, true);
    std::vector<uint64_t> sum = ValueOrDie(acc->Sum());
    benchmark::DoNotOptimize(sum.data());
  }
  SetUnmaskCounters(state, m);
}
BENCHMARK(BM_UnmaskBlocked)->Arg(10)->Arg(100)->Unit(benchmark::kMillisecond);

// A CA and one site certificate with its signer, made once.
struct BenchCertificates {
  crypto::Credential ca, site;
  std::unique_ptr<crypto::Signer> signer;
  absl::Time now;
};

const BenchCertificates& Certificates() {
  static const BenchCertificates* certificates = [] {
    auto* c = new BenchCertificates;
    c->now = absl::Now();
    c->ca = ValueOrDie(crypto::CreateCertificateAuthority("bench", c->now - absl::Hours(1),
                                                          absl::Hours(24 * 365)));
    c->site = ValueOrDie(crypto::IssueCertificate(c->ca, crypto::Role::kSite, "site-001", {},
                                                  c->now - absl::Hours(1), absl::Hours(24 * 30)));
    c->signer = ValueOrDie(crypto::Signer::FromPrivateKeyPem(c->site.key_pem));
    return c;
  }();
  return *certificates;
}

void BM_VerifierFromCertificate(benchmark::State& state) {
  const BenchCertificates& c = Certificates();
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<crypto::Verifier>> verifier =
        crypto::Verifier::FromCertificate(c.site.cert_pem, c.ca.cert_pem, c.now);
    benchmark::DoNotOptimize(verifier);
  }
}
BENCHMARK(BM_VerifierFromCertificate);

void BM_CertificateVerifierMiss(benchmark::State& state) {
  const BenchCertificates& c = Certificates();
  for (auto _ : state) {
    state.PauseTiming();
    std::shared_ptr<crypto::CertificateVerifier> certificates =
        ValueOrDie(crypto::CertificateVerifier::New(c.ca.cert_pem));
    state.ResumeTiming();
    absl::StatusOr<std::shared_ptr<const crypto::Verifier>> verifier =
        certificates->VerifierFor(c.site.cert_pem, c.now);
    benchmark::DoNotOptimize(verifier);
    state.PauseTiming();
    certificates.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_CertificateVerifierMiss);

void BM_CertificateVerifierHit(benchmark::State& state) {
  const BenchCertificates& c = Certificates();
  std::shared_ptr<crypto::CertificateVerifier> certificates =
      ValueOrDie(crypto::CertificateVerifier::New(c.ca.cert_pem));
  (void)ValueOrDie(certificates->VerifierFor(c.site.cert_pem, c.now));
  for (auto _ : state) {
    absl::StatusOr<std::shared_ptr<const crypto::Verifier>> verifier =
        certificates->VerifierFor(c.site.cert_pem, c.now);
    benchmark::DoNotOptimize(verifier);
  }
}
BENCHMARK(BM_CertificateVerifierHit);

void BM_EcdsaVerify(benchmark::State& state) {
  const BenchCertificates& c = Certificates();
  std::unique_ptr<crypto::Verifier> verifier =
      ValueOrDie(crypto::Verifier::FromCertificate(c.site.cert_pem, c.ca.cert_pem, c.now));
  const std::string data(200, 'a');  // about an advertisement's signed bytes
  const std::string signature = ValueOrDie(c.signer->Sign(data));
  for (auto _ : state) {
    absl::Status verified = verifier->Verify(data, signature);
    benchmark::DoNotOptimize(verified);
  }
}
BENCHMARK(BM_EcdsaVerify);

void BM_X25519Agreement(benchmark::State& state) {
  crypto::FakePrng prng(3);
  std::unique_ptr<crypto::X25519PrivateKey> own =
      ValueOrDie(crypto::X25519PrivateKey::Generate(prng));
  std::unique_ptr<crypto::X25519PrivateKey> peer =
      ValueOrDie(crypto::X25519PrivateKey::Generate(prng));
  for (auto _ : state) {
    absl::StatusOr<crypto::SecretData> shared = own->ComputeSharedSecret(peer->public_key());
    benchmark::DoNotOptimize(shared);
  }
}
BENCHMARK(BM_X25519Agreement);

void BM_HkdfSha256(benchmark::State& state) {
  // As RoundParams::DerivePairwiseSeed: a 32-byte X25519 secret, the 32-byte
  // context digest as salt, info = label || digest || two site names.
  crypto::SecretData ikm = RandomSecret(32, 4);
  const std::string salt(32, 's');
  const std::string info = secagg::Transcript("cohort/secagg/v1/pairwise-mask")
                               .Add(salt)
                               .Add("site-003")
                               .Add("site-011")
                               .bytes();
  for (auto _ : state) {
    absl::StatusOr<crypto::SecretData> key = crypto::HkdfSha256(ikm, salt, info, 32);
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_HkdfSha256);

// A SharePayload as a client seals it for one neighbour (n = 16 participants).
std::string SharePayloadBytes() {
  crypto::FakePrng prng(5);
  crypto::SecretData mask_key = prng.RandomSecret(secagg::kMaskKeySize).value();
  crypto::SecretData seed = prng.RandomSecret(secagg::kSelfMaskSeedSize).value();
  std::vector<crypto::ShamirShare> key_shares = crypto::ShamirSplit(mask_key, 9, 16, prng).value();
  std::vector<crypto::ShamirShare> seed_shares = crypto::ShamirSplit(seed, 9, 16, prng).value();
  v1::SharePayload payload;
  payload.set_sender("site-003");
  payload.set_recipient("site-011");
  *payload.mutable_mask_key_share() = secagg::ToProto(key_shares[11]);
  *payload.mutable_self_mask_seed_share() = secagg::ToProto(seed_shares[11]);
  return payload.SerializeAsString();
}

void BM_AesGcmEncryptShare(benchmark::State& state) {
  crypto::SecretData key = RandomSecret(32, 6);
  std::unique_ptr<crypto::AesGcm> aead = ValueOrDie(crypto::AesGcm::New(key));
  const std::string plaintext = SharePayloadBytes();
  const std::string associated_data(160, 'a');
  crypto::OpenSslPrng prng;  // the nonce source a site uses
  for (auto _ : state) {
    absl::StatusOr<std::string> ciphertext = aead->Encrypt(plaintext, associated_data, prng);
    benchmark::DoNotOptimize(ciphertext);
  }
  state.counters["plaintext_bytes"] = static_cast<double>(plaintext.size());
}
BENCHMARK(BM_AesGcmEncryptShare);

void BM_AesGcmDecryptShare(benchmark::State& state) {
  crypto::SecretData key = RandomSecret(32, 7);
  std::unique_ptr<crypto::AesGcm> aead = ValueOrDie(crypto::AesGcm::New(key));
  const std::string associated_data(160, 'a');
  crypto::OpenSslPrng prng;
  const std::string ciphertext =
      ValueOrDie(aead->Encrypt(SharePayloadBytes(), associated_data, prng));
  for (auto _ : state) {
    absl::StatusOr<std::string> plaintext = aead->Decrypt(ciphertext, associated_data);
    benchmark::DoNotOptimize(plaintext);
  }
}
BENCHMARK(BM_AesGcmDecryptShare);

int ThresholdFor(int n) { return n / 2 + 1; }

void BM_ShamirSplit(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  crypto::SecretData secret = RandomSecret(secagg::kMaskKeySize, 8);
  crypto::OpenSslPrng prng;  // the coefficient source a site uses
  for (auto _ : state) {
    absl::StatusOr<std::vector<crypto::ShamirShare>> shares =
        crypto::ShamirSplit(secret, ThresholdFor(n), n, prng);
    benchmark::DoNotOptimize(shares);
  }
  state.counters["t"] = ThresholdFor(n);
}
BENCHMARK(BM_ShamirSplit)->Arg(4)->Arg(16)->Arg(64);

void BM_ShamirReconstruct(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const int t = ThresholdFor(n);
  crypto::SecretData secret = RandomSecret(secagg::kMaskKeySize, 9);
  crypto::FakePrng prng(10);
  std::vector<crypto::ShamirShare> shares =
      ValueOrDie(crypto::ShamirSplit(secret, t, n, prng));
  // Any t holders will do; take the last t.
  shares.erase(shares.begin(), shares.end() - t);
  for (auto _ : state) {
    absl::StatusOr<crypto::SecretData> rebuilt =
        crypto::ShamirReconstruct(shares, t, secret.size());
    benchmark::DoNotOptimize(rebuilt);
  }
  state.counters["t"] = t;
}
BENCHMARK(BM_ShamirReconstruct)->Arg(4)->Arg(16)->Arg(64);

}  // namespace
}  // namespace cohort::bench

BENCHMARK_MAIN();
