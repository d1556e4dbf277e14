#include "tests/crypto/secagg/protocol_harness.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "crypto/signature.h"
#include "gtest/gtest.h"

namespace cohort::secagg::testing {

absl::Time TestNow() {
  return absl::FromCivil(absl::CivilSecond(2030, 6, 1, 12, 0, 0), absl::UTCTimeZone());
}

std::string SiteName(int index) { return absl::StrFormat("site-%02d", index); }

const TestPki& TestPki::Get() {
  static const TestPki* pki = [] {
    auto* out = new TestPki();
    const absl::Time from = TestNow() - absl::Hours(1);
    const absl::Duration validity = absl::Hours(24 * 365);
    out->ca = crypto::CreateCertificateAuthority("secagg-test", from, validity).value();
    for (int i = 0; i < kMaxTestSites; ++i) {
      out->sites.push_back(
          crypto::IssueCertificate(out->ca, crypto::Role::kSite, SiteName(i), {}, from, validity)
              .value());
    }
    out->other_ca = crypto::CreateCertificateAuthority("impostors", from, validity).value();
    out->stranger = crypto::IssueCertificate(out->other_ca, crypto::Role::kSite, SiteName(0), {},
                                             from, validity)
                        .value();
    return out;
  }();
  return *pki;
}

v1::SecAggContext MakeContext(const ContextOptions& o) {
  v1::SecAggContext c;
  c.set_study_id("study-secagg");
  c.set_round(o.round);
  c.set_attempt(o.attempt);
  for (int i = 0; i < o.n; ++i) c.add_participants(SiteName(i));
  c.set_threshold(o.threshold);
  c.set_degree(o.degree);
  c.set_bits(o.bits);
  c.set_vector_length(o.vector_length);
  std::string seed(32, '\0');
  crypto::FakePrng prng(o.graph_seed);
  EXPECT_TRUE(prng.Fill(absl::MakeSpan(reinterpret_cast<uint8_t*>(seed.data()), seed.size())).ok());
  c.set_graph_seed(seed);
  return c;
}

TestRound::TestRound(v1::SecAggContext context, uint64_t seed, RoundEnvironment environment)
    : context_(std::move(context)), clock_(environment.now) {
  const TestPki& pki = TestPki::Get();
  server_ = environment.certificates != nullptr
                ? SecAggServer::Create(context_, environment.certificates, clock_).value()
                : SecAggServer::Create(context_, pki.ca.cert_pem, clock_).value();
  crypto::FakePrng input_prng(seed ^ 0x5eca99);
  const uint64_t mask =
      context_.bits() == 64 ? ~uint64_t{0} : (uint64_t{1} << context_.bits()) - 1;
  for (int i = 0; i < context_.participants_size(); ++i) {
    const std::string& site = context_.participants(i);
    sites_.push_back(site);
    const crypto::Credential& cred = pki.sites.at(i);
    prngs_[site] = std::make_unique<crypto::FakePrng>(seed * 1000 + static_cast<uint64_t>(i));
    SecAggClientConfig config;
    config.context = context_;
    config.site = site;
    config.cert_pem = cred.cert_pem;
    config.signer = crypto::Signer::FromPrivateKeyPem(cred.key_pem).value();
    config.ca_pem = pki.ca.cert_pem;
    clients_[site] =
        (environment.certificates != nullptr
             ? SecAggClient::Create(std::move(config), environment.certificates, *prngs_[site],
                                    clock_)
             : SecAggClient::Create(std::move(config), *prngs_[site], clock_))
            .value();
    std::vector<uint64_t> x(context_.vector_length());
    for (uint64_t& v : x) v = input_prng.RandomUint64().value() & mask;
    inputs_[site] = std::move(x);
  }
}

TestRound::~TestRound() = default;

bool TestRound::Silent(const std::string& site, v1::SecAggPhase phase) const {
  auto it = silent_from_.find(site);
  return it != silent_from_.end() && it->second <= phase;
}

absl::Status TestRound::CloseWith(
    absl::StatusOr<absl::btree_map<std::string, v1::SecAggRequest>> next) {
  if (!next.ok()) {
    requests.clear();
    return next.status();
  }
  requests = std::move(*next);
  return absl::OkStatus();
}

absl::Status TestRound::RunAdvertiseKeys() {
  for (const std::string& site : sites_) {
    if (Silent(site, v1::PHASE_ADVERTISE_KEYS)) continue;
    absl::StatusOr<v1::AdvertiseKeys> ad = clients_.at(site)->AdvertiseKeys();
    if (!ad.ok()) {
      client_errors[site] = ad.status();
      continue;
    }
    if (edit_advertisement) edit_advertisement(site, *ad);
    advertisements[site] = *ad;
    absl::Status handled = server_->HandleAdvertiseKeys(site, *ad);
    if (!handled.ok()) handle_errors[site] = handled;
  }
  return CloseWith(server_->StartNextPhase());
}

absl::Status TestRound::RunShareKeys() {
  for (const auto& [site, wrapped] : requests) {
    if (Silent(site, v1::PHASE_SHARE_KEYS)) continue;
    v1::ShareKeysRequest request = wrapped.share_keys();
    if (edit_share_keys_request) edit_share_keys_request(site, request);
    absl::StatusOr<v1::ShareKeysResponse> response = clients_.at(site)->ShareKeys(request);
    if (!response.ok()) {
      client_errors[site] = response.status();
      continue;
    }
    if (edit_share_keys_response) edit_share_keys_response(site, *response);
    share_keys_responses[site] = *response;
    absl::Status handled = server_->HandleShareKeysResponse(site, *response);
    if (!handled.ok()) handle_errors[site] = handled;
  }
  return CloseWith(server_->StartNextPhase());
}

absl::Status TestRound::RunMaskedInput() {
  for (const auto& [site, wrapped] : requests) {
    if (Silent(site, v1::PHASE_MASKED_INPUT)) continue;
    v1::MaskedInputRequest request = wrapped.masked_input();
    if (edit_masked_input_request) edit_masked_input_request(site, request);
    absl::StatusOr<v1::MaskedInput> response =
        clients_.at(site)->MaskInput(request, inputs_.at(site));
    if (!response.ok()) {
      client_errors[site] = response.status();
      continue;
    }
    if (edit_masked_input) edit_masked_input(site, *response);
    masked_inputs[site] = *response;
    absl::Status handled = server_->HandleMaskedInput(site, *response);
    if (!handled.ok()) handle_errors[site] = handled;
  }
  return CloseWith(server_->StartNextPhase());
}

absl::StatusOr<std::vector<uint64_t>> TestRound::RunUnmask() {
  for (const auto& [site, wrapped] : requests) {
    if (Silent(site, v1::PHASE_UNMASK)) continue;
    v1::UnmaskRequest request = wrapped.unmask();
    if (edit_unmask_request) edit_unmask_request(site, request);
    ++unmask_requests_delivered;
    absl::StatusOr<v1::UnmaskResponse> response = clients_.at(site)->Unmask(request);
    if (!response.ok()) {
      client_errors[site] = response.status();
      continue;
    }
    if (edit_unmask_response) edit_unmask_response(site, *response);
    unmask_responses[site] = *response;
    absl::Status handled = server_->HandleUnmaskResponse(site, *response);
    if (!handled.ok()) handle_errors[site] = handled;
  }
  return server_->Finish();
}

absl::StatusOr<std::vector<uint64_t>> TestRound::Run() {
  if (absl::Status s = RunAdvertiseKeys(); !s.ok()) return s;
  if (absl::Status s = RunShareKeys(); !s.ok()) return s;
  if (absl::Status s = RunMaskedInput(); !s.ok()) return s;
  return RunUnmask();
}

std::vector<uint64_t> TestRound::PlainSum(const std::vector<std::string>& sites) const {
  const uint64_t mask =
      context_.bits() == 64 ? ~uint64_t{0} : (uint64_t{1} << context_.bits()) - 1;
  std::vector<uint64_t> sum(context_.vector_length(), 0);
  for (const std::string& site : sites) {
    const std::vector<uint64_t>& x = inputs_.at(site);
    for (size_t k = 0; k < sum.size(); ++k) sum[k] = (sum[k] + x[k]) & mask;
  }
  return sum;
}

}  // namespace cohort::secagg::testing
