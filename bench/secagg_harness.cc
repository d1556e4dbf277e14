// What secure aggregation costs, printed as markdown tables, with the speed
// targets of the issue checked (PASS/FAIL). Unit tests check correctness
// only; every speed target lives here. Results and their reading:
// docs/secure-aggregation-benchmarks.md.
//
// Sections (all by default; pick with --section):
//
//   prg       Mask-expansion throughput: AesCtrPrg::Expand (and AddMask, the
//             form the protocol uses) over ~1 GB of keystream, next to
//             OpenSSL's own AES-128-CTR (`openssl speed -evp aes-128-ctr
//             -seconds 2 -bytes 16384`, or EVP_aes_128_ctr measured here if
//             the binary is missing). Target: Expand >= 0.50 x OpenSSL.
//   grid      One full round per n in {4, 16, 64, 128}, d in {1e4, 1e5, 1e6},
//             dropout rate in {0%, 10%}: in process, real crypto (X25519,
//             HKDF, AES-GCM, ECDSA P-256 certificates, AES-CTR masks).
//   headline  n = 100, d = 1e6 (median of --headline-repeats rounds):
//             coordinator <= 3x the plain sum without dropouts, <= 5x with
//             10% dropouts; bytes per site <= 1.1x (plain update + keys and
//             shares).
//
// Round set-up. Site names site-000..; one test CA, one P-256 certificate
// per site, made once. bits = 32; inputs uniform mod 2^32. Degree (SecAgg+,
// Bell et al. CCS 2020): k = 2 * ceil(log2 n), the complete graph when
// k >= n - 1 (so n = 4 is complete; n = 16, 64, 100, 128 get k = 8, 12, 14,
// 14). Threshold: a strict majority of a neighbourhood (the site and its
// k_eff neighbours), t = floor((k_eff + 1) / 2) + 1, i.e. n/2 + 1 on the
// complete graph and k/2 + 1 otherwise. Dropouts: round(rate * n) sites (at
// least one when rate > 0), spread evenly over the indices, share keys in
// phase 1 and then send nothing: the server must rebuild their mask keys and
// remove their pairwise masks, the expensive case.
//
// What is measured (CPU time of the one thread that runs everything, see
// CpuNow(); messages passed in process):
//   client      the SecAggClient calls of one site, phases 0-3; median over
//               the sites whose input is in the sum.
//   coordinator every SecAggServer::Handle, StartNextPhase and Finish call.
//               Each site message is first serialized by the site and parsed
//               into the cohort.v1.SecAggResponse envelope the coordinator's
//               transport delivers, then handed over by rvalue
//               (coordinator/study_runner.cc calls Handle(site,
//               std::move(envelope))); that parse is reported apart
//               ("decode"), not in the coordinator time.
//   certificates The coordinator's crypto::CertificateVerifier is either
//               fresh ("cold": the first secure round of a study, every
//               site certificate fully verified) or one that has already
//               seen every site certificate ("warm": later rounds, the
//               coordinator keeps it in its StudyRunner; only validity
//               windows are re-checked). Grid rows are cold; the headline
//               reports warm rounds (median) and one cold round per case.
//               Clients always get a fresh verifier per round, as the site
//               agent does.
//   plain sum   summing the n inputs (d uint64 each, mod 2^32), as a server
//               without secure aggregation would: median of 5 runs.
//   bytes/site  serialized AdvertiseKeys + ShareKeysResponse + MaskedInput +
//               UnmaskResponse of one site (median over survivors), next to a
//               plain update packed as d uint32 (4d bytes: the same 32-bit
//               values without masking; Cohort's plain path sends packed
//               doubles, 8d) plus the same site's keys and shares (its
//               AdvertiseKeys + ShareKeysResponse + UnmaskResponse).
//
// Run from the repository root after a Release build (see the doc above):
//   ./build/bin/cohort_bench_secagg_harness            # --full, the default
//   ./build/bin/cohort_bench_secagg_harness --quick    # n <= 16, d <= 1e5
//   ./build/bin/cohort_bench_secagg_harness --section custom --n 20 --d 1000000
//                                  # one round of your choice, e.g. to profile
//                                  # (add --dropout-rate 0.1, --warm-certificates)
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "cohort/v1/secagg.pb.h"
#include "common/util/clock.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"
#include "crypto/pki.h"
#include "crypto/prg.h"
#include "crypto/random.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/round_params.h"
#include "crypto/secagg/server.h"
#include "crypto/signature.h"

namespace cohort::bench {
namespace {


constexpr int kBits = 32;
constexpr uint64_t kValueMask = (uint64_t{1} << kBits) - 1;
constexpr int kMaxSites = 128;
constexpr double kPrgTarget = 0.50;
constexpr double kCoordinatorTargetNoDropouts = 3.0;
constexpr double kCoordinatorTargetDropouts = 5.0;
constexpr double kBytesTarget = 1.1;

// CPU time of the calling thread (user + system). Everything here runs on one
// thread, so on an idle machine this equals wall time; unlike wall time it
// does not count the slices other processes take on a shared machine, and it
// is what `openssl speed` divides by (CPU user time, unless -elapsed).
double CpuNow() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double SecondsSince(double start) { return CpuNow() - start; }

// Runs `f`, adds its wall time to `*seconds`, returns its result.
template <typename F>
auto Timed(double* seconds, F&& f) {
  const double start = CpuNow();
  auto result = f();
  *seconds += SecondsSince(start);
  return result;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

std::string SiteName(int index) { return absl::StrFormat("site-%03d", index); }

std::string Ms(double seconds) { return absl::StrFormat("%.1f", seconds * 1e3); }
std::string Ratio(double r) { return absl::StrFormat("%.2f", r); }
std::string Verdict(bool pass) { return pass ? "**PASS**" : "**FAIL**"; }
std::string Kb(double bytes) { return absl::StrFormat("%.1f", bytes / 1e3); }

// ---------------------------------------------------------------- machine

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 1));
      if (parts.size() == 2) return std::string(absl::StripAsciiWhitespace(parts[1]));
    }
  }
  return "unknown";
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " / ", five, " / ", fifteen);
}

void PrintMachine() {
  std::printf("## Machine\n\n| fact | value |\n|---|---|\n");
  std::printf("| CPU | %s |\n", CpuModel().c_str());
  std::printf("| hardware threads (nproc) | %u |\n", std::thread::hardware_concurrency());
  std::printf("| OpenSSL (linked) | %s |\n", OpenSSL_version(OPENSSL_VERSION));
  std::printf("| load average at start (1/5/15 min) | %s |\n\n", LoadAverage().c_str());
}

// ---------------------------------------------------------------- section a

struct Throughput {
  double bytes_per_second = 0;
  std::string source;
};

// AesCtrPrg over ~`total_bytes` of keystream, 10^6 values (4 MB of keystream
// at bits 32) per PRG instance, as one mask per pair of sites.
absl::StatusOr<double> PrgBytesPerSecond(bool add_mask, size_t total_bytes) {
  constexpr size_t kValues = 1'000'000;
  constexpr size_t kBytesPerVector = kValues * 4;
  std::vector<uint64_t> out(kValues, 0);
  crypto::FakePrng seeds(add_mask ? 11 : 12);
  size_t done = 0;
  double seconds = 0;
  while (done < total_bytes) {
    ASSIGN_OR_RETURN(crypto::SecretData seed, seeds.RandomSecret(crypto::kPrgSeedSize));
    const double start = CpuNow();
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesCtrPrg> prg, crypto::AesCtrPrg::New(seed));
    RETURN_IF_ERROR(add_mask ? prg->AddMask(absl::MakeSpan(out), kBits, /*subtract=*/false)
                             : prg->Expand(absl::MakeSpan(out), kBits));
    seconds += SecondsSince(start);
    done += kBytesPerVector;
  }
  volatile uint64_t sink = out[kValues / 2];
  (void)sink;
  return static_cast<double>(done) / seconds;
}

// OpenSSL's figure from `openssl speed`: the 16384-byte column, in 1000s of
// bytes per second. NotFound if the binary is missing or prints no such line.
absl::StatusOr<double> OpenSslSpeed() {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(
      popen("openssl speed -evp aes-128-ctr -seconds 2 -bytes 16384 2>/dev/null", "r"), pclose);
  if (pipe == nullptr) return absl::NotFoundError("popen failed");
  std::string output;
  std::array<char, 512> buffer;
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) output += buffer.data();
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::StartsWithIgnoreCase(line, "aes-128-ctr")) continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    absl::string_view last = fields.back();
    double thousands = 0;
    if (absl::ConsumeSuffix(&last, "k") && absl::SimpleAtod(last, &thousands)) {
      return thousands * 1000;
    }
  }
  return absl::NotFoundError("no AES-128-CTR line in the output of `openssl speed`");
}

// The same measurement done here: EVP_aes_128_ctr over 16384-byte blocks for
// about two seconds.
absl::StatusOr<double> EvpSpeed() {
  std::unique_ptr<EVP_CIPHER_CTX, crypto::OpenSslDeleter<EVP_CIPHER_CTX_free>> ctx(
      EVP_CIPHER_CTX_new());
  const std::array<uint8_t, 16> key{1, 2, 3}, iv{};
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_ctr(), nullptr, key.data(), iv.data()) != 1) {
    return absl::InternalError("EVP_aes_128_ctr set-up failed");
  }
  std::vector<uint8_t> in(16384, 0), out(16384);
  size_t bytes = 0;
  const double start = CpuNow();
  while (SecondsSince(start) < 2.0) {
    for (int i = 0; i < 256; ++i) {
      int len = 0;
      if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, in.data(), 16384) != 1) {
        return absl::InternalError("EVP_EncryptUpdate failed");
      }
      bytes += static_cast<size_t>(len);
    }
  }
  return static_cast<double>(bytes) / SecondsSince(start);
}

absl::Status RunPrgSection() {
  constexpr size_t kTotal = size_t{1} << 30;
  std::fprintf(stderr, "prg: AesCtrPrg over 1 GiB, then openssl speed (2 s)...\n");
  ASSIGN_OR_RETURN(double expand, PrgBytesPerSecond(/*add_mask=*/false, kTotal));
  ASSIGN_OR_RETURN(double add_mask, PrgBytesPerSecond(/*add_mask=*/true, kTotal));
  Throughput reference;
  if (absl::StatusOr<double> speed = OpenSslSpeed(); speed.ok()) {
    reference = {*speed, "`openssl speed -evp aes-128-ctr -seconds 2 -bytes 16384`"};
  } else {
    ASSIGN_OR_RETURN(double evp, EvpSpeed());
    reference = {evp, absl::StrCat("EVP_aes_128_ctr measured in process, 16384-byte blocks, 2 s "
                                   "(the openssl binary was unusable: ",
                                   speed.status().message(), ")")};
  }
  const double ratio = expand / reference.bytes_per_second;
  std::printf("## Mask expansion throughput (bits = 32, 4 keystream bytes per value)\n\n");
  std::printf("| what | GB/s | vs OpenSSL |\n|---|---:|---:|\n");
  std::printf("| AesCtrPrg::Expand, 10^6 values per seed, 1 GiB | %.2f | %.2f |\n", expand / 1e9,
              ratio);
  std::printf("| AesCtrPrg::AddMask (the protocol's path), same | %.2f | %.2f |\n",
              add_mask / 1e9, add_mask / reference.bytes_per_second);
  std::printf("| OpenSSL AES-128-CTR, 16 KiB blocks | %.2f | 1.00 |\n\n",
              reference.bytes_per_second / 1e9);
  std::printf("OpenSSL figure from %s.\n\n", reference.source.c_str());
  std::printf("Target Expand >= %.2f x OpenSSL: %s (%.2f)\n\n", kPrgTarget,
              Verdict(ratio >= kPrgTarget).c_str(), ratio);
  std::fflush(stdout);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- rounds

// One CA and a certificate and signer per site, made once.
struct BenchPki {
  crypto::Credential ca;
  std::vector<crypto::Credential> sites;
  std::vector<std::shared_ptr<const crypto::Signer>> signers;
  absl::Time now;
};

absl::StatusOr<BenchPki> MakePki(int sites) {
  BenchPki pki;
  pki.now = absl::Now();
  const absl::Time from = pki.now - absl::Hours(1);
  const absl::Duration validity = absl::Hours(24 * 30);
  ASSIGN_OR_RETURN(pki.ca, crypto::CreateCertificateAuthority("secagg-bench", from, validity));
  for (int i = 0; i < sites; ++i) {
    ASSIGN_OR_RETURN(crypto::Credential cred,
                     crypto::IssueCertificate(pki.ca, crypto::Role::kSite, SiteName(i), {}, from,
                                              validity));
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::Signer> signer,
                     crypto::Signer::FromPrivateKeyPem(cred.key_pem));
    pki.sites.push_back(std::move(cred));
    pki.signers.push_back(std::move(signer));
  }
  return pki;
}

struct RoundSpec {
  int n = 0;
  int64_t d = 0;
  double dropout_rate = 0;
};

// 2 * ceil(log2 n); RoundParams rounds it up to even, and the graph is
// complete when it reaches n - 1.
int LogDegree(int n) {
  int log2n = 0;
  while ((1 << log2n) < n) ++log2n;
  return 2 * log2n;
}
int EffectiveDegree(int n) { return std::min(n - 1, LogDegree(n)); }
int ThresholdFor(int n) { return (EffectiveDegree(n) + 1) / 2 + 1; }

std::vector<int> DropoutIndices(const RoundSpec& spec) {
  std::vector<int> out;
  if (spec.dropout_rate <= 0) return out;
  const int count = std::max(1, static_cast<int>(std::lround(spec.dropout_rate * spec.n)));
  for (int j = 0; j < count; ++j) out.push_back(j * spec.n / count);
  return out;
}

// Coordinator seconds per phase: Handle calls, then the closing call
// (StartNextPhase, or Finish for phase 3).
struct PhaseTimes {
  std::array<double, 4> handle{};
  std::array<double, 4> close{};
  double Total() const {
    double t = 0;
    for (int p = 0; p < 4; ++p) t += handle[p] + close[p];
    return t;
  }
};

struct RoundResult {
  RoundSpec spec;
  int dropouts = 0;
  int degree = 0;
  int threshold = 0;
  int survivors = 0;
  double client_median = 0;
  double client_max = 0;
  PhaseTimes coordinator;
  bool warm_certificates = false;
  double decode = 0;     // parsing the sites' messages into envelopes
  double plain_sum = 0;  // median of 5
  int finish_expansions = 0;
  // Per site, median over survivors.
  double bytes_total = 0;
  double bytes_masked_input = 0;
  double bytes_keys_and_shares = 0;
  double PlainUpdateBytes() const { return 4.0 * static_cast<double>(spec.d); }
  double BytesRatio() const {
    return bytes_total / (PlainUpdateBytes() + bytes_keys_and_shares);
  }
  double CoordinatorRatio() const { return coordinator.Total() / plain_sum; }
};

std::vector<uint64_t> PlainSum(const std::vector<std::vector<uint64_t>>& inputs,
                               absl::Span<const int> sites, size_t d) {
  std::vector<uint64_t> sum(d, 0);
  for (int i : sites) {
    const uint64_t* x = inputs[i].data();
    for (size_t k = 0; k < d; ++k) sum[k] += x[k];
  }
  for (uint64_t& v : sum) v &= kValueMask;
  return sum;
}

v1::SecAggContext MakeContext(const RoundSpec& spec) {
  v1::SecAggContext c;
  c.set_study_id("secagg-bench");
  c.set_round(1);
  c.set_attempt(0);
  for (int i = 0; i < spec.n; ++i) c.add_participants(SiteName(i));
  c.set_threshold(ThresholdFor(spec.n));
  c.set_degree(std::max(1, LogDegree(spec.n)));
  c.set_bits(kBits);
  c.set_vector_length(spec.d);
  c.set_graph_seed(std::string(32, '\x5a'));
  return c;
}

// A site's message as the coordinator's transport hands it over: serialized
// by the site, parsed into the envelope. Adds the parse time to `*decode`.
template <typename Message>
absl::StatusOr<v1::SecAggResponse> Deliver(Message message,
                                           Message* (v1::SecAggResponse::*field)(),
                                           double* decode) {
  std::string wire;
  {
    v1::SecAggResponse sent;
    *(sent.*field)() = std::move(message);
    wire = sent.SerializeAsString();
  }
  v1::SecAggResponse received;
  const bool parsed = Timed(decode, [&] { return received.ParseFromString(wire); });
  if (!parsed) return absl::InternalError("envelope does not parse");
  return received;
}

absl::Status Expect(absl::Status status, absl::string_view what) {
  if (status.ok()) return status;
  return absl::InternalError(absl::StrCat(what, ": ", status.ToString()));
}

// A coordinator CertificateVerifier that has verified every site certificate
// of `pki`, as it has after one round with all sites.
absl::StatusOr<std::shared_ptr<crypto::CertificateVerifier>> WarmCertificates(
    const BenchPki& pki) {
  ASSIGN_OR_RETURN(std::shared_ptr<crypto::CertificateVerifier> certificates,
                   crypto::CertificateVerifier::New(pki.ca.cert_pem));
  for (const crypto::Credential& site : pki.sites) {
    RETURN_IF_ERROR(certificates->VerifierFor(site.cert_pem, pki.now).status());
  }
  return certificates;
}

// One round. `certificates` is the coordinator's verifier (see "certificates"
// above); null makes a fresh one inside the timed Create.
absl::StatusOr<RoundResult> RunRound(const RoundSpec& spec, const BenchPki& pki,
                                     std::shared_ptr<crypto::CertificateVerifier> certificates =
                                         nullptr) {
  const int n = spec.n;
  const size_t d = static_cast<size_t>(spec.d);
  RoundResult result;
  result.spec = spec;
  result.degree = EffectiveDegree(n);
  result.threshold = ThresholdFor(n);
  const std::vector<int> dropout_list = DropoutIndices(spec);
  result.dropouts = static_cast<int>(dropout_list.size());
  std::vector<bool> drops(n, false);
  for (int i : dropout_list) drops[i] = true;

  std::mt19937_64 gen(static_cast<uint64_t>(n) * 1'000'003 + d);
  std::vector<std::vector<uint64_t>> inputs(n, std::vector<uint64_t>(d));
  for (auto& x : inputs) {
    for (uint64_t& v : x) v = gen() & kValueMask;
  }
  std::vector<int> everyone(n);
  for (int i = 0; i < n; ++i) everyone[i] = i;

  // The plain baseline: all n inputs, as the brief's definition.
  std::vector<double> plain_runs;
  for (int r = 0; r < 5; ++r) {
    const double start = CpuNow();
    std::vector<uint64_t> sum = PlainSum(inputs, everyone, d);
    plain_runs.push_back(SecondsSince(start));
    volatile uint64_t sink = sum[d / 2];
    (void)sink;
  }
  result.plain_sum = Median(plain_runs);

  const v1::SecAggContext context = MakeContext(spec);
  util::SimulatedClock clock(pki.now);
  crypto::OpenSslPrng prng;  // the production generator, shared (one thread)
  PhaseTimes& coord = result.coordinator;
  result.warm_certificates = certificates != nullptr && certificates->cached() > 0;
  // Creating the server (and a cold verifier: parsing the CA) counts as
  // phase 0.
  absl::StatusOr<std::unique_ptr<secagg::SecAggServer>> created =
      Timed(&coord.handle[0], [&]() -> absl::StatusOr<std::unique_ptr<secagg::SecAggServer>> {
        if (certificates != nullptr) return secagg::SecAggServer::Create(context, certificates, clock);
        return secagg::SecAggServer::Create(context, pki.ca.cert_pem, clock);
      });
  RETURN_IF_ERROR(Expect(created.status(), "SecAggServer::Create"));
  std::unique_ptr<secagg::SecAggServer> server = *std::move(created);
  std::vector<std::unique_ptr<secagg::SecAggClient>> clients;
  for (int i = 0; i < n; ++i) {
    secagg::SecAggClientConfig config;
    config.context = context;
    config.site = SiteName(i);
    config.cert_pem = pki.sites[i].cert_pem;
    config.signer = pki.signers[i];
    config.ca_pem = pki.ca.cert_pem;
    ASSIGN_OR_RETURN(std::unique_ptr<secagg::SecAggClient> client,
                     secagg::SecAggClient::Create(std::move(config), prng, clock));
    clients.push_back(std::move(client));
  }
  auto index_of = [](const std::string& site) {
    int i = 0;
    (void)absl::SimpleAtoi(absl::StripPrefix(site, "site-"), &i);
    return i;
  };

  std::vector<double> client_seconds(n, 0);
  struct Sizes {
    size_t advertise = 0, share = 0, masked = 0, unmask = 0;
  };
  std::vector<Sizes> sizes(n);
  auto handle = [&](int phase, int i, v1::SecAggResponse envelope) {
    return Expect(Timed(&coord.handle[phase],
                        [&] { return server->Handle(SiteName(i), std::move(envelope)); }),
                  absl::StrCat("Handle phase ", phase, " from ", SiteName(i)));
  };

  // Phase 0.
  for (int i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(v1::AdvertiseKeys ad,
                     Timed(&client_seconds[i], [&] { return clients[i]->AdvertiseKeys(); }));
    sizes[i].advertise = ad.ByteSizeLong();
    ASSIGN_OR_RETURN(v1::SecAggResponse env,
                     Deliver(std::move(ad), &v1::SecAggResponse::mutable_advertise_keys,
                             &result.decode));
    RETURN_IF_ERROR(handle(0, i, std::move(env)));
  }
  absl::StatusOr<absl::btree_map<std::string, v1::SecAggRequest>> requests =
      Timed(&coord.close[0], [&] { return server->StartNextPhase(); });
  RETURN_IF_ERROR(Expect(requests.status(), "StartNextPhase after phase 0"));

  // Phase 1: every site, dropouts included, shares its keys.
  for (const auto& [site, request] : *requests) {
    const int i = index_of(site);
    ASSIGN_OR_RETURN(v1::ShareKeysResponse response, Timed(&client_seconds[i], [&] {
                       return clients[i]->ShareKeys(request.share_keys());
                     }));
    sizes[i].share = response.ByteSizeLong();
    ASSIGN_OR_RETURN(v1::SecAggResponse env,
                     Deliver(std::move(response), &v1::SecAggResponse::mutable_share_keys,
                             &result.decode));
    RETURN_IF_ERROR(handle(1, i, std::move(env)));
  }
  requests = Timed(&coord.close[1], [&] { return server->StartNextPhase(); });
  RETURN_IF_ERROR(Expect(requests.status(), "StartNextPhase after phase 1"));

  // Phase 2: the dropouts fall silent.
  for (const auto& [site, request] : *requests) {
    const int i = index_of(site);
    if (drops[i]) continue;
    ASSIGN_OR_RETURN(v1::MaskedInput response, Timed(&client_seconds[i], [&] {
                       return clients[i]->MaskInput(request.masked_input(), inputs[i]);
                     }));
    sizes[i].masked = response.ByteSizeLong();
    ASSIGN_OR_RETURN(v1::SecAggResponse env,
                     Deliver(std::move(response), &v1::SecAggResponse::mutable_masked_input,
                             &result.decode));
    RETURN_IF_ERROR(handle(2, i, std::move(env)));
  }
  requests = Timed(&coord.close[2], [&] { return server->StartNextPhase(); });
  RETURN_IF_ERROR(Expect(requests.status(), "StartNextPhase after phase 2"));

  // Phase 3.
  for (const auto& [site, request] : *requests) {
    const int i = index_of(site);
    ASSIGN_OR_RETURN(v1::UnmaskResponse response, Timed(&client_seconds[i], [&] {
                       return clients[i]->Unmask(request.unmask());
                     }));
    sizes[i].unmask = response.ByteSizeLong();
    ASSIGN_OR_RETURN(v1::SecAggResponse env,
                     Deliver(std::move(response), &v1::SecAggResponse::mutable_unmask,
                             &result.decode));
    RETURN_IF_ERROR(handle(3, i, std::move(env)));
  }
  absl::StatusOr<std::vector<uint64_t>> sum =
      Timed(&coord.close[3], [&] { return server->Finish(); });
  RETURN_IF_ERROR(Expect(sum.status(), "Finish"));

  // The sum must be the survivors' plain sum, else the timings mean nothing.
  std::vector<int> survivors;
  for (int i = 0; i < n; ++i) {
    if (!drops[i]) survivors.push_back(i);
  }
  if (server->survivors().size() != survivors.size()) {
    return absl::InternalError(absl::StrCat("server kept ", server->survivors().size(),
                                            " survivors, expected ", survivors.size()));
  }
  if (*sum != PlainSum(inputs, survivors, d)) {
    return absl::InternalError("the unmasked sum differs from the plain sum of the survivors");
  }
  result.survivors = static_cast<int>(survivors.size());

  // Masks the coordinator expands in Finish: one self mask per survivor,
  // one pairwise mask per (dropout, surviving neighbour).
  ASSIGN_OR_RETURN(std::shared_ptr<const secagg::RoundParams> params,
                   secagg::RoundParams::Create(context));
  result.finish_expansions = result.survivors;
  for (int dropped : dropout_list) {
    for (int j : params->graph().Neighbours(dropped)) result.finish_expansions += drops[j] ? 0 : 1;
  }

  std::vector<double> client_times, totals, masked, keys;
  for (int i : survivors) {
    client_times.push_back(client_seconds[i]);
    const Sizes& s = sizes[i];
    totals.push_back(static_cast<double>(s.advertise + s.share + s.masked + s.unmask));
    masked.push_back(static_cast<double>(s.masked));
    keys.push_back(static_cast<double>(s.advertise + s.share + s.unmask));
  }
  result.client_median = Median(client_times);
  result.client_max = *std::max_element(client_times.begin(), client_times.end());
  result.bytes_total = Median(totals);
  result.bytes_masked_input = Median(masked);
  result.bytes_keys_and_shares = Median(keys);
  return result;
}

std::string DLabel(int64_t d) {
  int e = 0;
  int64_t v = d;
  while (v % 10 == 0 && v > 1) {
    v /= 10;
    ++e;
  }
  return v == 1 ? absl::StrCat("10^", e) : absl::StrCat(d);
}

void PrintRoundHeader() {
  std::printf(
      "| n | d | dropped | k | t | client/site ms (median, max) | coordinator ms | plain sum ms "
      "| coord/plain | decode ms | bytes/site kB | masked B/value | plain update kB | keys+shares "
      "kB | bytes ratio | certs |\n");
  std::printf(
      "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
}

void PrintRoundRow(const RoundResult& r) {
  std::printf(
      "| %d | %s | %d | %d | %d | %s, %s | %s | %s | %s | %s | %s | %.3f | %s | %s | %s | %s |\n",
              r.spec.n, DLabel(r.spec.d).c_str(), r.dropouts, r.degree, r.threshold,
              Ms(r.client_median).c_str(), Ms(r.client_max).c_str(),
              Ms(r.coordinator.Total()).c_str(), Ms(r.plain_sum).c_str(),
              Ratio(r.CoordinatorRatio()).c_str(), Ms(r.decode).c_str(),
              Kb(r.bytes_total).c_str(),
              r.bytes_masked_input / static_cast<double>(r.spec.d),
              Kb(r.PlainUpdateBytes()).c_str(), Kb(r.bytes_keys_and_shares).c_str(),
              Ratio(r.BytesRatio()).c_str(), r.warm_certificates ? "warm" : "cold");
  std::fflush(stdout);
}

absl::Status RunGridSection(const BenchPki& pki, bool quick) {
  std::printf("## Full rounds (bits = 32, in process, real crypto)\n\n");
  std::printf(
      "k = effective degree (n - 1: complete graph), t = threshold. dropped = sites that shared "
      "keys in phase 1, then sent nothing. coordinator = all Handle / StartNextPhase / Finish "
      "calls; decode = parsing the sites' messages (not in coordinator). plain update = 4d bytes "
      "(packed uint32); keys+shares = the same site's AdvertiseKeys + ShareKeysResponse + "
      "UnmaskResponse; bytes ratio = bytes/site / (plain update + keys+shares); certs = the "
      "coordinator's certificate cache (cold: fresh, so every site certificate is fully "
      "verified, as in the first secure round of a study).\n\n");
  PrintRoundHeader();
  const std::vector<int> ns = quick ? std::vector<int>{4, 16} : std::vector<int>{4, 16, 64, 128};
  const std::vector<int64_t> ds = quick ? std::vector<int64_t>{10'000, 100'000}
                                        : std::vector<int64_t>{10'000, 100'000, 1'000'000};
  for (int n : ns) {
    for (int64_t d : ds) {
      for (double rate : {0.0, 0.1}) {
        std::fprintf(stderr, "grid: n=%d d=%lld dropout=%.0f%%\n", n, static_cast<long long>(d),
                     rate * 100);
        ASSIGN_OR_RETURN(RoundResult r, RunRound({n, d, rate}, pki));
        PrintRoundRow(r);
      }
    }
  }
  std::printf("\n");
  return absl::OkStatus();
}

void PrintPhaseTable(const std::vector<const RoundResult*>& rounds) {
  std::printf("| dropped | certs | phase | Handle (all sites) | StartNextPhase / Finish |\n");
  std::printf("|---:|---|---|---:|---:|\n");
  const char* phases[] = {"0 AdvertiseKeys", "1 ShareKeys", "2 MaskedInput", "3 Unmask"};
  for (const RoundResult* r : rounds) {
    for (int p = 0; p < 4; ++p) {
      std::printf("| %d | %s | %s | %s | %s |\n", r->dropouts,
                  r->warm_certificates ? "warm" : "cold", phases[p],
                  Ms(r->coordinator.handle[p]).c_str(), Ms(r->coordinator.close[p]).c_str());
    }
  }
}

absl::Status RunHeadlineSection(const BenchPki& pki, int repeats) {
  constexpr int kN = 100;
  constexpr int64_t kD = 1'000'000;
  std::printf("## Headline: n = %d, d = 10^6 (warm: median of %d rounds; cold: 1 round)\n\n",
              kN, repeats);
  ASSIGN_OR_RETURN(std::shared_ptr<crypto::CertificateVerifier> warm, WarmCertificates(pki));
  std::vector<RoundResult> chosen, cold;
  for (double rate : {0.0, 0.1}) {
    std::fprintf(stderr, "headline: dropout=%.0f%% cold certificates\n", rate * 100);
    ASSIGN_OR_RETURN(RoundResult first, RunRound({kN, kD, rate}, pki));
    cold.push_back(std::move(first));
    std::vector<RoundResult> runs;
    for (int r = 0; r < repeats; ++r) {
      std::fprintf(stderr, "headline: dropout=%.0f%% run %d/%d\n", rate * 100, r + 1, repeats);
      ASSIGN_OR_RETURN(RoundResult result, RunRound({kN, kD, rate}, pki, warm));
      runs.push_back(std::move(result));
    }
    std::sort(runs.begin(), runs.end(), [](const RoundResult& a, const RoundResult& b) {
      return a.CoordinatorRatio() < b.CoordinatorRatio();
    });
    chosen.push_back(std::move(runs[runs.size() / 2]));
  }
  PrintRoundHeader();
  for (const RoundResult& r : chosen) PrintRoundRow(r);
  for (const RoundResult& r : cold) PrintRoundRow(r);

  std::printf("\nWhere the coordinator's time goes (ms; the rounds above):\n\n");
  PrintPhaseTable({&chosen[0], &chosen[1], &cold[0], &cold[1]});
  std::printf("\nMasks expanded by Finish (self masks of survivors + pairwise masks of "
              "dropouts): ");
  for (const RoundResult& r : chosen) {
    std::printf("%d with %d dropped; ", r.finish_expansions, r.dropouts);
  }
  std::printf("\n\n| target | measured | limit | verdict |\n|---|---:|---:|---|\n");
  auto target = [](const char* what, const RoundResult& r, double limit) {
    std::printf("| coordinator / plain sum, %s | %s | %.1f | %s |\n", what,
                Ratio(r.CoordinatorRatio()).c_str(), limit,
                Verdict(r.CoordinatorRatio() <= limit).c_str());
  };
  const std::string dropped = absl::StrCat(
      static_cast<int>(std::lround(100.0 * chosen[1].dropouts / kN)), "% dropouts (",
      chosen[1].dropouts, " sites)");
  target("no dropouts, warm certificates (rounds after the first)", chosen[0],
         kCoordinatorTargetNoDropouts);
  target(absl::StrCat(dropped, ", warm certificates").c_str(), chosen[1],
         kCoordinatorTargetDropouts);
  target("no dropouts, cold certificates (first round)", cold[0], kCoordinatorTargetNoDropouts);
  target(absl::StrCat(dropped, ", cold certificates").c_str(), cold[1],
         kCoordinatorTargetDropouts);
  for (const RoundResult& r : chosen) {
    std::printf("| bytes/site / (plain update + keys and shares), %d dropped | %s | %.1f | %s |\n",
                r.dropouts, Ratio(r.BytesRatio()).c_str(), kBytesTarget,
                Verdict(r.BytesRatio() <= kBytesTarget).c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CLI::App app{"Cohort secure-aggregation benchmarks: markdown tables and PASS/FAIL targets."};
  bool quick = false;
  bool full = false;
  int repeats = 3;
  std::vector<std::string> sections;
  auto* quick_opt = app.add_flag("--quick", quick, "n <= 16, d <= 10^5; no headline");
  app.add_flag("--full", full, "every n and d, and the headline (the default)")
      ->excludes(quick_opt);
  app.add_option("--headline-repeats", repeats, "rounds per headline case (median reported)")
      ->check(CLI::Range(1, 25));
  app.add_option("--section", sections, "prg, grid, headline (default: all), custom")
      ->check(CLI::IsMember({"prg", "grid", "headline", "custom"}));
  RoundSpec custom{16, 100'000, 0.0};
  app.add_option("--n", custom.n, "sites of the custom round (--section custom)")
      ->check(CLI::Range(2, kMaxSites));
  app.add_option("--d", custom.d, "vector length of the custom round")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 28));
  app.add_option("--dropout-rate", custom.dropout_rate, "dropout rate of the custom round")
      ->check(CLI::Range(0.0, 0.5));
  bool warm_certificates = false;
  app.add_flag("--warm-certificates", warm_certificates,
               "custom round: the coordinator has verified every site certificate before "
               "(a later round of a study); default cold (the first round)");
  CLI11_PARSE(app, argc, argv);
  auto wants = [&](const std::string& s) {
    const bool listed = std::find(sections.begin(), sections.end(), s) != sections.end();
    return listed || (sections.empty() && s != "custom");
  };
  // Dropouts and refusals are logged as warnings: expected here, not news.
  util::InitLogging("secagg-bench", util::LogFormat::kText, spdlog::level::err);

  std::printf("# Secure aggregation benchmarks (%s)\n\n", quick ? "--quick" : "--full");
  PrintMachine();
  auto fail = [](const absl::Status& s) {
    std::fprintf(stderr, "secagg harness: %s\n", s.ToString().c_str());
    return 1;
  };
  if (wants("prg")) {
    if (absl::Status s = RunPrgSection(); !s.ok()) return fail(s);
  }
  if (!wants("grid") && !wants("custom") && !(wants("headline") && !quick)) return 0;
  std::fprintf(stderr, "pki: one CA and %d site certificates...\n", kMaxSites);
  absl::StatusOr<BenchPki> pki = MakePki(kMaxSites);
  if (!pki.ok()) return fail(pki.status());
  if (wants("grid")) {
    if (absl::Status s = RunGridSection(*pki, quick); !s.ok()) return fail(s);
  }
  if (wants("custom")) {
    std::printf("## Custom round\n\n");
    PrintRoundHeader();
    std::shared_ptr<crypto::CertificateVerifier> certificates;
    if (warm_certificates) {
      absl::StatusOr<std::shared_ptr<crypto::CertificateVerifier>> warm = WarmCertificates(*pki);
      if (!warm.ok()) return fail(warm.status());
      certificates = *std::move(warm);
    }
    absl::StatusOr<RoundResult> r = RunRound(custom, *pki, certificates);
    if (!r.ok()) return fail(r.status());
    PrintRoundRow(*r);
    std::printf("\nCoordinator time by phase (ms):\n\n");
    PrintPhaseTable({&*r});
    std::printf("\nMasks expanded by Finish: %d\n\n", r->finish_expansions);
  }
  if (wants("headline")) {
    if (quick) {
      std::printf("## Headline\n\nSkipped with --quick (n = 100, d = 10^6).\n");
    } else if (absl::Status s = RunHeadlineSection(*pki, repeats); !s.ok()) {
      return fail(s);
    }
  }
  std::printf("Load average at end (1/5/15 min): %s\n", LoadAverage().c_str());
  return 0;
}

}  // namespace
}  // namespace cohort::bench

int main(int argc, char** argv) { return cohort::bench::Main(argc, argv); }
