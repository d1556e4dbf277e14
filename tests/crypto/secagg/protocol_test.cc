// End-to-end tests of the secure-aggregation client and server together:
// exact sums with and without dropouts, aborts below the threshold, and each
// attack (tampered ciphertext, wrong signature or certificate, replay from
// another round, an unmask request for both secrets of one site) detected
// and handled with its reason.
#include <algorithm>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cohort/v1/secagg.pb.h"
#include "common/util/clock.h"
#include "crypto/secagg/advertisement.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/round_params.h"
#include "crypto/secagg/fault.h"
#include "crypto/secagg/server.h"
#include "crypto/shamir.h"
#include "crypto/signature.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"
#include "tests/crypto/secagg/protocol_harness.h"

namespace cohort::secagg {
namespace {

using ::cohort::secagg::testing::ContextOptions;
using ::cohort::secagg::testing::MakeContext;
using ::cohort::secagg::testing::SiteName;
using ::cohort::secagg::testing::TestPki;
using ::cohort::secagg::testing::TestRound;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Names(std::initializer_list<int> indices) {
  std::vector<std::string> out;
  for (int i : indices) out.push_back(SiteName(i));
  return out;
}

std::vector<std::string> AllBut(int n, std::initializer_list<int> excluded) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    if (std::find(excluded.begin(), excluded.end(), i) == excluded.end()) {
      out.push_back(SiteName(i));
    }
  }
  return out;
}

// Redirects the default spdlog logger into a string while alive.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  std::string text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::logger> previous_;
};

class SecAggProtocolTest : public ::testing::Test {
 protected:
  // The PKI (CA and 40 site certificates) is made once for the whole suite.
  static void SetUpTestSuite() { TestPki::Get(); }
};

// --- Exact sums.

TEST_F(SecAggProtocolTest, NoDropoutsGivesTheExactSum) {
  TestRound round(MakeContext({.n = 5, .threshold = 3, .bits = 32, .vector_length = 64}), 1);
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(round.sites())));
  EXPECT_THAT(round.server().survivors(), ElementsAreArray(round.sites()));
  EXPECT_THAT(round.server().dropped(), IsEmpty());
  EXPECT_EQ(round.server().StateName(), "Completed");
  // The inputs really were masked: no masked vector equals its input.
  for (const std::string& site : round.sites()) {
    auto y = UnpackValues(round.masked_inputs.at(site).packed_values(),
                          round.context().bits(), round.input(site).size());
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_NE(*y, round.input(site)) << site;
  }
  // With no dropouts the server asked for self-mask seed shares only.
  for (const auto& [site, response] : round.unmask_responses) {
    for (const v1::RevealedShare& share : response.shares()) {
      EXPECT_EQ(share.kind(), v1::SELF_MASK_SEED) << site;
    }
  }
}

TEST_F(SecAggProtocolTest, SixtyFourBitAndOneBitModuli) {
  for (int bits : {1, 64}) {
    TestRound round(MakeContext({.n = 4, .threshold = 2, .bits = bits, .vector_length = 9}), 2);
    absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
    ASSERT_TRUE(sum.ok()) << sum.status();
    EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(round.sites()))) << bits;
  }
}

TEST_F(SecAggProtocolTest, SparseGraphGivesTheExactSum) {
  TestRound round(MakeContext({.n = 12, .threshold = 3, .degree = 4, .vector_length = 8}), 3);
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(round.sites())));
  // Each site exchanged shares with exactly its 4 neighbours.
  for (const auto& [site, response] : round.share_keys_responses) {
    EXPECT_EQ(response.shares_size(), 4) << site;
  }
}

TEST_F(SecAggProtocolTest, TwoSitesWithThresholdTwo) {
  TestRound round(MakeContext({.n = 2, .threshold = 2, .degree = 1, .vector_length = 5}), 4);
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(round.sites())));
}

// Dropouts: k sites fall silent from `phase` on, for every k up to n - t.
struct DropoutCase {
  v1::SecAggPhase phase;
  int dropouts;
};

class SecAggDropoutTest : public SecAggProtocolTest,
                          public ::testing::WithParamInterface<DropoutCase> {};

TEST_P(SecAggDropoutTest, SumOverSurvivorsIsExact) {
  constexpr int kN = 7;
  constexpr int kT = 4;
  const DropoutCase c = GetParam();
  TestRound round(MakeContext({.n = kN, .threshold = kT, .vector_length = 32}), 10 + c.dropouts);
  std::vector<std::string> silent;
  for (int k = 0; k < c.dropouts; ++k) {
    // Spread the dropouts over the index range.
    silent.push_back(SiteName((2 * k + 1) % kN));
    round.SilenceFrom(c.phase, silent.back());
  }
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();

  std::vector<std::string> expected_survivors;
  for (const std::string& site : round.sites()) {
    bool is_silent = std::find(silent.begin(), silent.end(), site) != silent.end();
    // Silent only in the unmask phase: the input is in the sum already.
    if (!is_silent || c.phase == v1::PHASE_UNMASK) expected_survivors.push_back(site);
  }
  EXPECT_THAT(round.server().survivors(), ElementsAreArray(expected_survivors));
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(expected_survivors)));
  if (c.phase == v1::PHASE_UNMASK) {
    EXPECT_EQ(round.server().unmask_faults().size(), silent.size());
  } else {
    ASSERT_EQ(round.server().dropped().size(), silent.size());
    for (const auto& [site, info] : round.server().dropped()) {
      EXPECT_EQ(info.reason, v1::MISSING_MESSAGE) << site;
      EXPECT_EQ(info.phase, c.phase) << site;
    }
  }
  // Dropouts after sharing keys had their mask keys (and only those) revealed.
  if (c.phase == v1::PHASE_MASKED_INPUT) {
    for (const auto& [holder, response] : round.unmask_responses) {
      for (const v1::RevealedShare& share : response.shares()) {
        const bool owner_silent =
            std::find(silent.begin(), silent.end(), share.owner()) != silent.end();
        EXPECT_EQ(share.kind(), owner_silent ? v1::MASK_KEY : v1::SELF_MASK_SEED);
      }
    }
  }
}

std::vector<DropoutCase> AllDropoutCases() {
  std::vector<DropoutCase> cases;
  for (v1::SecAggPhase phase : {v1::PHASE_ADVERTISE_KEYS, v1::PHASE_SHARE_KEYS,
                                v1::PHASE_MASKED_INPUT, v1::PHASE_UNMASK}) {
    for (int k = 1; k <= 7 - 4; ++k) cases.push_back({phase, k});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(UpToNMinusT, SecAggDropoutTest, ::testing::ValuesIn(AllDropoutCases()),
                         [](const ::testing::TestParamInfo<DropoutCase>& info) {
                           return absl::StrCat(v1::SecAggPhase_Name(info.param.phase), "_",
                                               info.param.dropouts);
                         });

// --- Aborts below the threshold: no output, and no share ever requested.

TEST_F(SecAggProtocolTest, TooFewMaskedInputsAbortsBeforeAnyShareIsRequested) {
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 20);
  for (int i : {0, 2, 4}) round.SilenceFrom(v1::PHASE_MASKED_INPUT, SiteName(i));
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  absl::Status closed = round.RunMaskedInput();
  EXPECT_EQ(closed.code(), absl::StatusCode::kFailedPrecondition) << closed;
  EXPECT_THAT(round.requests, IsEmpty());
  EXPECT_TRUE(round.server().aborted());
  EXPECT_EQ(round.server().StateName(), "Aborted");
  EXPECT_THAT(round.server().abort_reason(), HasSubstr("threshold 3"));
  EXPECT_FALSE(round.server().Finish().ok());
  // No client was asked: both survivors still wait for an unmask request.
  absl::StatusOr<std::vector<uint64_t>> sum = round.RunUnmask();
  EXPECT_FALSE(sum.ok());
  EXPECT_EQ(round.unmask_requests_delivered, 0);
  for (int i : {1, 3}) EXPECT_EQ(round.client(SiteName(i)).StateName(), "Unmask");
  // A late message changes nothing.
  EXPECT_EQ(round.server().HandleMaskedInput(SiteName(1), round.masked_inputs.at(SiteName(1)))
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SecAggProtocolTest, TooFewAdvertisementsAbortsInPhaseZero) {
  TestRound round(MakeContext({.n = 4, .threshold = 3}), 21);
  for (int i : {1, 2}) round.SilenceFrom(v1::PHASE_ADVERTISE_KEYS, SiteName(i));
  EXPECT_EQ(round.RunAdvertiseKeys().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(round.requests, IsEmpty());
  EXPECT_TRUE(round.server().aborted());
}

TEST_F(SecAggProtocolTest, TooFewShareKeysResponsesAbortsInPhaseOne) {
  TestRound round(MakeContext({.n = 4, .threshold = 3}), 22);
  for (int i : {0, 3}) round.SilenceFrom(v1::PHASE_SHARE_KEYS, SiteName(i));
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  EXPECT_EQ(round.RunShareKeys().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(round.requests, IsEmpty());
}

TEST_F(SecAggProtocolTest, TooFewUnmaskResponsesAbortsWithoutOutput) {
  // n = 5, t = 3: three sites silent in the unmask phase leave two holders
  // of each self-mask seed, one short.
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 23);
  for (int i : {0, 1, 2}) round.SilenceFrom(v1::PHASE_UNMASK, SiteName(i));
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  EXPECT_EQ(sum.status().code(), absl::StatusCode::kFailedPrecondition) << sum.status();
  EXPECT_TRUE(round.server().aborted());
  EXPECT_THAT(round.server().abort_reason(), HasSubstr("self-mask seed"));
  EXPECT_FALSE(round.server().Finish().ok());
}

TEST_F(SecAggProtocolTest, SparseNeighbourhoodBelowThresholdAbortsBeforeUnmasking) {
  // Degree 2 (a ring of 8) with t = 3: a site whose two neighbours both drop
  // after sharing keys has only itself left, so its seed cannot be recovered.
  v1::SecAggContext context = MakeContext({.n = 8, .threshold = 3, .degree = 2});
  TestRound round(context, 24);
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  // Pick site-00's two neighbours from the requests it received.
  std::vector<std::string> neighbours;
  for (const v1::EncryptedShare& s : round.requests.at(SiteName(0)).masked_input().shares()) {
    neighbours.push_back(s.sender());
  }
  ASSERT_EQ(neighbours.size(), 2u);
  for (const std::string& site : neighbours) round.SilenceFrom(v1::PHASE_MASKED_INPUT, site);
  EXPECT_EQ(round.RunMaskedInput().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(round.server().abort_reason(), HasSubstr(SiteName(0)));
  EXPECT_THAT(round.requests, IsEmpty());
}

// --- Attacks.

TEST_F(SecAggProtocolTest, TamperedCiphertextDropsItsSenderWithBadCiphertext) {
  LogCapture logs;
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 30);
  const std::string sender = SiteName(1);
  const std::string victim = SiteName(3);
  round.edit_masked_input_request = [&](const std::string& site, v1::MaskedInputRequest& r) {
    if (site != victim) return;
    for (v1::EncryptedShare& share : *r.mutable_shares()) {
      if (share.sender() == sender) (*share.mutable_ciphertext())[20] ^= 0x01;
    }
  };
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  // The victim did not trust the sender, and told the server why.
  ASSERT_TRUE(round.client(victim).rejected_peers().contains(sender));
  EXPECT_EQ(round.client(victim).rejected_peers().at(sender).reason, v1::BAD_CIPHERTEXT);
  ASSERT_EQ(round.masked_inputs.at(victim).complaints_size(), 1);
  EXPECT_EQ(round.masked_inputs.at(victim).complaints(0).site(), sender);
  // The server dropped the sender and still unmasked the others' sum exactly.
  ASSERT_TRUE(round.server().dropped().contains(sender));
  EXPECT_EQ(round.server().dropped().at(sender).reason, v1::BAD_CIPHERTEXT);
  EXPECT_THAT(round.server().dropped().at(sender).message, HasSubstr(victim));
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(AllBut(5, {1}))));
  EXPECT_THAT(logs.text(), HasSubstr("BAD_CIPHERTEXT"));
}

TEST_F(SecAggProtocolTest, FlippedSignatureByteDropsTheSiteWithBadSignature) {
  LogCapture logs;
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 31);
  round.edit_advertisement = [](const std::string& site, v1::AdvertiseKeys& ad) {
    if (site == SiteName(2)) (*ad.mutable_signature())[10] ^= 0x40;
  };
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(DropReasonOf(round.handle_errors.at(SiteName(2))), v1::BAD_SIGNATURE);
  ASSERT_TRUE(round.server().dropped().contains(SiteName(2)));
  EXPECT_EQ(round.server().dropped().at(SiteName(2)).reason, v1::BAD_SIGNATURE);
  EXPECT_EQ(round.server().dropped().at(SiteName(2)).phase, v1::PHASE_ADVERTISE_KEYS);
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(AllBut(5, {2}))));
  EXPECT_THAT(logs.text(), HasSubstr("BAD_SIGNATURE"));
}

TEST_F(SecAggProtocolTest, KeysAdvertisedUnderAnotherSitesCertificateAreRejected) {
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 32);
  round.edit_advertisement = [](const std::string& site, v1::AdvertiseKeys& ad) {
    // site-04 presents site-01's certificate with its own keys.
    if (site == SiteName(4)) ad.set_cert_pem(TestPki::Get().sites[1].cert_pem);
  };
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.server().dropped().contains(SiteName(4)));
  EXPECT_EQ(round.server().dropped().at(SiteName(4)).reason, v1::BAD_CERTIFICATE);
  EXPECT_THAT(round.server().dropped().at(SiteName(4)).message, HasSubstr(SiteName(1)));
}

TEST_F(SecAggProtocolTest, CertificateFromAnotherCaIsRejected) {
  TestRound round(MakeContext({.n = 4, .threshold = 2}), 33);
  round.edit_advertisement = [](const std::string& site, v1::AdvertiseKeys& ad) {
    if (site == SiteName(0)) ad.set_cert_pem(TestPki::Get().stranger.cert_pem);
  };
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.server().dropped().contains(SiteName(0)));
  EXPECT_EQ(round.server().dropped().at(SiteName(0)).reason, v1::BAD_CERTIFICATE);
}

TEST_F(SecAggProtocolTest, AdvertisementRelabelledAsAnotherSiteIsMisbound) {
  TestRound round(MakeContext({.n = 4, .threshold = 2}), 34);
  // site-01's own (valid) advertisement arrives on site-02's connection.
  round.edit_advertisement = [&](const std::string& site, v1::AdvertiseKeys& ad) {
    if (site == SiteName(2)) ad = round.advertisements.at(SiteName(1));
  };
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.server().dropped().contains(SiteName(2)));
  EXPECT_EQ(round.server().dropped().at(SiteName(2)).reason, v1::REPLAYED_OR_MISBOUND);
  EXPECT_FALSE(round.server().dropped().contains(SiteName(1)));
}

TEST_F(SecAggProtocolTest, ClientRejectsAKeySubstitutedByTheServer) {
  // A malicious server swaps site-01's mask key, as sent to site-03, for its
  // own. site-03 checks the signature itself, ignores site-01, and the two
  // never mask with each other; the round still sums exactly.
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 35);
  round.edit_share_keys_request = [](const std::string& site, v1::ShareKeysRequest& r) {
    if (site != SiteName(3)) return;
    for (v1::AdvertiseKeys& ad : *r.mutable_neighbours()) {
      if (ad.site() == SiteName(1)) (*ad.mutable_mask_public_key())[0] ^= 0x01;
    }
  };
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  const auto& rejected = round.client(SiteName(3)).rejected_peers();
  ASSERT_TRUE(rejected.contains(SiteName(1)));
  EXPECT_EQ(rejected.at(SiteName(1)).reason, v1::BAD_SIGNATURE);
  for (const v1::EncryptedShare& s : round.share_keys_responses.at(SiteName(3)).shares()) {
    EXPECT_NE(s.recipient(), SiteName(1));
  }
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(round.sites())));
}

TEST_F(SecAggProtocolTest, MessagesReplayedFromAnEarlierRoundAreDetected) {
  // Round 1 runs to completion; its messages are then replayed in round 2.
  TestRound round1(MakeContext({.n = 4, .threshold = 3, .round = 1}), 40);
  ASSERT_TRUE(round1.Run().ok());
  TestRound round2(MakeContext({.n = 4, .threshold = 3, .round = 2}), 41);

  // Phase 0: an old advertisement (validly signed, for round 1).
  round2.edit_advertisement = [&](const std::string& site, v1::AdvertiseKeys& ad) {
    if (site == SiteName(0)) ad = round1.advertisements.at(SiteName(0));
    // An old one whose digest field was rewritten: the signature fails.
    if (site == SiteName(1)) {
      std::string digest = ad.context_digest();
      ad = round1.advertisements.at(SiteName(1));
      ad.set_context_digest(digest);
    }
  };
  // Two of four sites left, threshold 3: the round aborts.
  EXPECT_EQ(round2.RunAdvertiseKeys().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(round2.server().dropped().contains(SiteName(0)));
  EXPECT_EQ(round2.server().dropped().at(SiteName(0)).reason, v1::REPLAYED_OR_MISBOUND);
  ASSERT_TRUE(round2.server().dropped().contains(SiteName(1)));
  EXPECT_EQ(round2.server().dropped().at(SiteName(1)).reason, v1::BAD_SIGNATURE);

  // A client of round 2 refuses a share-keys request of round 1, and is not
  // derailed by it.
  TestRound round3(MakeContext({.n = 4, .threshold = 3, .round = 2}), 42);
  ASSERT_TRUE(round3.RunAdvertiseKeys().ok());
  v1::ShareKeysRequest stale;
  *stale.mutable_context() = round1.context();
  absl::StatusOr<v1::ShareKeysResponse> refused = round3.client(SiteName(2)).ShareKeys(stale);
  EXPECT_EQ(DropReasonOf(refused.status()), v1::REPLAYED_OR_MISBOUND);
  EXPECT_FALSE(round3.client(SiteName(2)).aborted());
  EXPECT_EQ(round3.client(SiteName(2)).refusals().back().reason, v1::REPLAYED_OR_MISBOUND);

  // Phase 1: site-03 sends its round-1 share-keys response.
  round3.edit_share_keys_response = [&](const std::string& site, v1::ShareKeysResponse& r) {
    if (site == SiteName(3)) r = round1.share_keys_responses.at(SiteName(3));
  };
  ASSERT_TRUE(round3.RunShareKeys().ok());
  ASSERT_TRUE(round3.server().dropped().contains(SiteName(3)));
  EXPECT_EQ(round3.server().dropped().at(SiteName(3)).reason, v1::REPLAYED_OR_MISBOUND);
  absl::StatusOr<std::vector<uint64_t>> sum = [&]() -> absl::StatusOr<std::vector<uint64_t>> {
    if (absl::Status s = round3.RunMaskedInput(); !s.ok()) return s;
    return round3.RunUnmask();
  }();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_THAT(*sum, ElementsAreArray(round3.PlainSum(Names({0, 1, 2}))));
}

TEST_F(SecAggProtocolTest, OldCiphertextsUnderACurrentDigestFailToDecrypt) {
  // Same sites, round 1 then round 2 attempt 1: site-02 replays its round-1
  // ciphertexts with the digest field updated. The server cannot tell, but
  // every recipient fails to decrypt and reports it.
  TestRound round1(MakeContext({.n = 4, .threshold = 3, .round = 1}), 43);
  ASSERT_TRUE(round1.Run().ok());
  TestRound round2(MakeContext({.n = 4, .threshold = 3, .round = 2, .attempt = 1}), 44);
  round2.edit_share_keys_response = [&](const std::string& site, v1::ShareKeysResponse& r) {
    if (site != SiteName(2)) return;
    std::string digest = r.context_digest();
    r = round1.share_keys_responses.at(SiteName(2));
    r.set_context_digest(digest);
  };
  absl::StatusOr<std::vector<uint64_t>> sum = round2.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  ASSERT_TRUE(round2.server().dropped().contains(SiteName(2)));
  EXPECT_EQ(round2.server().dropped().at(SiteName(2)).reason, v1::BAD_CIPHERTEXT);
  EXPECT_THAT(*sum, ElementsAreArray(round2.PlainSum(Names({0, 1, 3}))));
}

TEST_F(SecAggProtocolTest, ClientRefusesToRevealBothSecretsOfOneSite) {
  LogCapture logs;
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 50);
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  ASSERT_TRUE(round.RunMaskedInput().ok());
  // A curious server lists site-01 as survivor AND dropout to site-03.
  v1::UnmaskRequest greedy = round.requests.at(SiteName(3)).unmask();
  greedy.add_dropouts(SiteName(1));
  absl::StatusOr<v1::UnmaskResponse> refused = round.client(SiteName(3)).Unmask(greedy);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(DropReasonOf(refused.status()), v1::REFUSED_REQUEST);
  EXPECT_THAT(refused.status().message(), HasSubstr(SiteName(1)));
  EXPECT_TRUE(round.client(SiteName(3)).aborted());
  EXPECT_EQ(round.client(SiteName(3)).StateName(), "Aborted");
  // The session is over for that site: even the honest request is refused.
  EXPECT_FALSE(round.client(SiteName(3)).Unmask(round.requests.at(SiteName(3)).unmask()).ok());
  EXPECT_THAT(logs.text(), HasSubstr("REFUSED_REQUEST"));
}

TEST_F(SecAggProtocolTest, ClientRefusesASecondDifferentUnmaskRequest) {
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 51);
  round.SilenceFrom(v1::PHASE_MASKED_INPUT, SiteName(4));
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  ASSERT_TRUE(round.RunMaskedInput().ok());
  SecAggClient& client = round.client(SiteName(0));
  const v1::UnmaskRequest honest = round.requests.at(SiteName(0)).unmask();
  absl::StatusOr<v1::UnmaskResponse> first = client.Unmask(honest);
  ASSERT_TRUE(first.ok()) << first.status();
  // Redelivery of the same request gets the same answer.
  absl::StatusOr<v1::UnmaskResponse> again = client.Unmask(honest);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), first->SerializeAsString());
  // Now the server claims site-04 survived after all: that would reveal its
  // self-mask seed on top of the mask key already revealed.
  v1::UnmaskRequest flipped = honest;
  flipped.clear_dropouts();
  flipped.add_survivors(SiteName(4));
  absl::StatusOr<v1::UnmaskResponse> refused = client.Unmask(flipped);
  EXPECT_EQ(DropReasonOf(refused.status()), v1::REFUSED_REQUEST);
  EXPECT_TRUE(client.aborted());
}

TEST_F(SecAggProtocolTest, ClientRefusesUnmaskWithTooFewSurvivorsOrAsADropout) {
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 52);
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  ASSERT_TRUE(round.RunMaskedInput().ok());
  const v1::UnmaskRequest honest = round.requests.at(SiteName(0)).unmask();

  v1::UnmaskRequest few = honest;  // only two survivors: below t = 3
  few.clear_survivors();
  few.add_survivors(SiteName(0));
  few.add_survivors(SiteName(1));
  for (int i : {2, 3, 4}) few.add_dropouts(SiteName(i));
  absl::StatusOr<v1::UnmaskResponse> r0 = round.client(SiteName(0)).Unmask(few);
  EXPECT_EQ(DropReasonOf(r0.status()), v1::TOO_FEW_SURVIVORS);
  EXPECT_TRUE(round.client(SiteName(0)).aborted());

  v1::UnmaskRequest self_dropped = round.requests.at(SiteName(1)).unmask();
  self_dropped.clear_survivors();
  for (int i : {0, 2, 3, 4}) self_dropped.add_survivors(SiteName(i));
  self_dropped.add_dropouts(SiteName(1));
  absl::StatusOr<v1::UnmaskResponse> r1 = round.client(SiteName(1)).Unmask(self_dropped);
  EXPECT_EQ(DropReasonOf(r1.status()), v1::REFUSED_REQUEST);

  // Garbage is rejected without ending the session.
  v1::UnmaskRequest unknown = round.requests.at(SiteName(2)).unmask();
  unknown.add_dropouts("no-such-site");
  EXPECT_EQ(DropReasonOf(round.client(SiteName(2)).Unmask(unknown).status()), v1::MALFORMED);
  EXPECT_FALSE(round.client(SiteName(2)).aborted());
  EXPECT_TRUE(round.client(SiteName(2)).Unmask(round.requests.at(SiteName(2)).unmask()).ok());
}

TEST_F(SecAggProtocolTest, ServerIgnoresSharesItDidNotAskFor) {
  // site-00 answers with a mask-key share of survivor site-01 (which, with
  // its self-mask seed, would unmask site-01). The server rejects that
  // response, uses nobody's shares from it, and still sums exactly.
  TestRound round(MakeContext({.n = 5, .threshold = 3}), 53);
  round.edit_unmask_response = [](const std::string& site, v1::UnmaskResponse& r) {
    if (site != SiteName(0)) return;
    v1::RevealedShare* extra = r.add_shares();
    extra->set_owner(SiteName(1));
    extra->set_kind(v1::MASK_KEY);
    *extra->mutable_share() = r.shares(0).share();
  };
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(DropReasonOf(round.handle_errors.at(SiteName(0))), v1::MALFORMED);
  ASSERT_TRUE(round.server().unmask_faults().contains(SiteName(0)));
  EXPECT_THAT(*sum, ElementsAreArray(round.PlainSum(round.sites())));
}

TEST_F(SecAggProtocolTest, WrongShareValuesAreCaughtByTheAdvertisedKey) {
  // A corrupted mask-key share of a dropout reconstructs a key whose public
  // key differs from the advertised one: DataLoss, no output.
  TestRound round(MakeContext({.n = 4, .threshold = 3}), 54);
  round.SilenceFrom(v1::PHASE_MASKED_INPUT, SiteName(3));
  round.edit_unmask_response = [](const std::string&, v1::UnmaskResponse& r) {
    for (v1::RevealedShare& share : *r.mutable_shares()) {
      if (share.kind() == v1::MASK_KEY) {
        // +256 on every share moves byte 1 of the reconstructed key (byte 0
        // would not do: X25519 clears its low three bits).
        share.mutable_share()->set_values(0,
                                          (share.share().values(0) + 256) % crypto::kShamirPrime);
      }
    }
  };
  absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
  EXPECT_EQ(sum.status().code(), absl::StatusCode::kDataLoss) << sum.status();
  EXPECT_TRUE(round.server().aborted());
}

// --- Message handling.

TEST_F(SecAggProtocolTest, DuplicatesWrongPhaseAndStrangers) {
  TestRound round(MakeContext({.n = 4, .threshold = 2}), 60);
  SecAggServer& server = round.server();
  absl::StatusOr<v1::AdvertiseKeys> ad = round.client(SiteName(0)).AdvertiseKeys();
  ASSERT_TRUE(ad.ok());
  EXPECT_TRUE(server.HandleAdvertiseKeys(SiteName(0), *ad).ok());
  EXPECT_TRUE(server.HandleAdvertiseKeys(SiteName(0), *ad).ok());  // redelivery
  EXPECT_EQ(server.HandleAdvertiseKeys("site-99", *ad).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(server.HandleMaskedInput(SiteName(1), v1::MaskedInput()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(server.dropped().contains(SiteName(1)));
  EXPECT_THAT(server.pending(), ElementsAreArray(Names({1, 2, 3})));
  // A second, different advertisement drops the site.
  v1::AdvertiseKeys other = *ad;
  other.set_signature("x");
  EXPECT_EQ(DropReasonOf(server.HandleAdvertiseKeys(SiteName(0), other)), v1::MALFORMED);
  EXPECT_TRUE(server.dropped().contains(SiteName(0)));
  EXPECT_EQ(server.HandleAdvertiseKeys(SiteName(0), *ad).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SecAggProtocolTest, MaskedInputRedeliveryIsAcceptedAndADifferentOneDrops) {
  TestRound round(MakeContext({.n = 5, .threshold = 3, .vector_length = 40}), 62);
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  SecAggServer& server = round.server();
  for (const auto& [site, wrapped] : round.requests) {
    absl::StatusOr<v1::MaskedInput> input =
        round.client(site).MaskInput(wrapped.masked_input(), round.input(site));
    ASSERT_TRUE(input.ok()) << input.status();
    v1::SecAggResponse envelope;
    *envelope.mutable_masked_input() = *input;
    EXPECT_TRUE(server.Handle(site, envelope).ok()) << site;  // const&: copied
    if (site == SiteName(0)) {
      // The same bytes again, handed over by rvalue: a redelivery.
      EXPECT_TRUE(server.Handle(site, v1::SecAggResponse(envelope)).ok());
      EXPECT_TRUE(server.HandleMaskedInput(site, *input).ok());
    }
    if (site == SiteName(1)) {
      // A second masked input that differs in one byte of the vector.
      v1::MaskedInput other = *input;
      (*other.mutable_packed_values())[7] ^= 1;
      EXPECT_EQ(DropReasonOf(server.HandleMaskedInput(site, other)), v1::MALFORMED);
    }
  }
  EXPECT_TRUE(server.dropped().contains(SiteName(1)));
  EXPECT_FALSE(server.dropped().contains(SiteName(0)));
  absl::StatusOr<absl::btree_map<std::string, v1::SecAggRequest>> unmask = server.StartNextPhase();
  ASSERT_TRUE(unmask.ok()) << unmask.status();
  round.requests = *std::move(unmask);
  absl::StatusOr<std::vector<uint64_t>> sum = round.RunUnmask();
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(*sum, round.PlainSum(AllBut(5, {1})));
}

// A coordinator keeps one CertificateVerifier across rounds: later rounds
// skip the full certificate check, give the same exact sums, and still
// refuse a certificate once it has expired.
TEST_F(SecAggProtocolTest, CertificateVerifierSharedAcrossRounds) {
  const TestPki& pki = TestPki::Get();
  std::shared_ptr<crypto::CertificateVerifier> certificates =
      crypto::CertificateVerifier::New(pki.ca.cert_pem).value();
  for (int r = 1; r <= 2; ++r) {
    TestRound round(MakeContext({.n = 6, .threshold = 3, .vector_length = 33, .round = r}), 70 + r,
                    {.now = testing::TestNow() + absl::Hours(24 * r),
                     .certificates = certificates});
    round.SilenceFrom(v1::PHASE_MASKED_INPUT, SiteName(r));
    absl::StatusOr<std::vector<uint64_t>> sum = round.Run();
    ASSERT_TRUE(sum.ok()) << "round " << r << ": " << sum.status();
    EXPECT_EQ(*sum, round.PlainSum(AllBut(6, {r})));
    EXPECT_EQ(certificates->cached(), 6u);
  }

  // A year later every site certificate has expired; the remembered ones
  // are refused as a fresh check would refuse them.
  const v1::SecAggContext context = MakeContext({.n = 3, .threshold = 2, .round = 3});
  std::shared_ptr<const RoundParams> params = RoundParams::Create(context).value();
  util::SimulatedClock clock(testing::TestNow() + absl::Hours(24 * 400));
  std::unique_ptr<SecAggServer> server =
      SecAggServer::Create(context, certificates, clock).value();
  for (int i = 0; i < 3; ++i) {
    std::unique_ptr<crypto::Signer> signer =
        crypto::Signer::FromPrivateKeyPem(pki.sites[i].key_pem).value();
    v1::AdvertiseKeys ad = SignAdvertisement(*params, SiteName(i), pki.sites[i].cert_pem, *signer,
                                             std::string(32, static_cast<char>('a' + i)),
                                             std::string(32, static_cast<char>('A' + i)))
                               .value();
    absl::Status handled = server->HandleAdvertiseKeys(SiteName(i), ad);
    EXPECT_EQ(DropReasonOf(handled), v1::BAD_CERTIFICATE) << handled;
    EXPECT_THAT(handled.message(), HasSubstr("certificate has expired"));
  }
  EXPECT_EQ(server->StartNextPhase().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SecAggProtocolTest, ServerNeedsACertificateVerifier) {
  util::SimulatedClock clock(testing::TestNow());
  const v1::SecAggContext context = MakeContext({.n = 3, .threshold = 2});
  EXPECT_EQ(SecAggServer::Create(context, std::shared_ptr<crypto::CertificateVerifier>(), clock)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SecAggServer::Create(context, std::string("not a CA"), clock).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SecAggProtocolTest, ClientChecksItsInputAndItsCertificate) {
  TestRound round(MakeContext({.n = 3, .threshold = 2, .bits = 8, .vector_length = 4}), 61);
  ASSERT_TRUE(round.RunAdvertiseKeys().ok());
  ASSERT_TRUE(round.RunShareKeys().ok());
  SecAggClient& client = round.client(SiteName(0));
  const v1::MaskedInputRequest request = round.requests.at(SiteName(0)).masked_input();
  EXPECT_EQ(client.MaskInput(request, std::vector<uint64_t>{1, 2, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client.MaskInput(request, std::vector<uint64_t>{1, 2, 3, 256}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(client.aborted());
  EXPECT_TRUE(client.MaskInput(request, std::vector<uint64_t>{1, 2, 3, 255}).ok());

  // A client cannot be created with another site's certificate.
  util::SimulatedClock clock(testing::TestNow());
  crypto::FakePrng prng(1);
  SecAggClientConfig config;
  config.context = round.context();
  config.site = SiteName(0);
  config.cert_pem = TestPki::Get().sites[1].cert_pem;
  config.signer = crypto::Signer::FromPrivateKeyPem(TestPki::Get().sites[1].key_pem).value();
  config.ca_pem = TestPki::Get().ca.cert_pem;
  EXPECT_EQ(SecAggClient::Create(std::move(config), prng, clock).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace cohort::secagg
