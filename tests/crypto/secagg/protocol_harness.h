// An in-process secure-aggregation round for tests: one SecAggServer and n
// SecAggClients with real crypto, deterministic FakePrngs, a simulated clock
// and a test PKI. Messages are passed directly; hooks let a test edit any
// message in flight (a tampering network or a malicious server) and sites can
// fall silent from any phase on (dropouts).
#ifndef COHORT_TESTS_CRYPTO_SECAGG_PROTOCOL_HARNESS_H_
#define COHORT_TESTS_CRYPTO_SECAGG_PROTOCOL_HARNESS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cohort/v1/secagg.pb.h"
#include "common/util/clock.h"
#include "crypto/pki.h"
#include "crypto/random.h"
#include "crypto/secagg/client.h"
#include "crypto/secagg/server.h"
#include "crypto/signature.h"

namespace cohort::secagg::testing {

// All certificate checks use this instant.
absl::Time TestNow();

// "site-00", "site-01", ...: sorted by index.
std::string SiteName(int index);

inline constexpr int kMaxTestSites = 40;

// A consortium CA with site certificates site-00..site-39, and a second CA
// with its own "site-00" (a stranger). Created once per test binary (key
// generation is the slow part).
struct TestPki {
  crypto::Credential ca;
  std::vector<crypto::Credential> sites;
  crypto::Credential other_ca;
  crypto::Credential stranger;  // "site-00", issued by other_ca

  static const TestPki& Get();
};

struct ContextOptions {
  int n = 5;
  int threshold = 3;
  int degree = 100;  // complete unless smaller than n - 1
  int bits = 32;
  int vector_length = 16;
  int round = 1;
  int attempt = 0;
  uint64_t graph_seed = 1;
};
v1::SecAggContext MakeContext(const ContextOptions& options);

// Where a round runs: its clock's start, and the certificate checks.
struct RoundEnvironment {
  absl::Time now = TestNow();
  // Shared by the server and every client (as a process keeps one across
  // rounds); null: each makes its own from the CA PEM.
  std::shared_ptr<crypto::CertificateVerifier> certificates;
};

class TestRound {
 public:
  // Creates the server and one client per participant; inputs are drawn
  // uniformly mod 2^bits from FakePrng(seed). Fails the test on setup errors.
  TestRound(v1::SecAggContext context, uint64_t seed, RoundEnvironment environment = {});
  ~TestRound();

  SecAggServer& server() { return *server_; }
  SecAggClient& client(const std::string& site) { return *clients_.at(site); }
  const std::vector<uint64_t>& input(const std::string& site) const { return inputs_.at(site); }
  const std::vector<std::string>& sites() const { return sites_; }
  const v1::SecAggContext& context() const { return context_; }

  // The site sends nothing in `phase` and after.
  void SilenceFrom(v1::SecAggPhase phase, const std::string& site) { silent_from_[site] = phase; }

  // Edits of messages in flight; unset ones do nothing.
  std::function<void(const std::string&, v1::AdvertiseKeys&)> edit_advertisement;
  std::function<void(const std::string&, v1::ShareKeysRequest&)> edit_share_keys_request;
  std::function<void(const std::string&, v1::ShareKeysResponse&)> edit_share_keys_response;
  std::function<void(const std::string&, v1::MaskedInputRequest&)> edit_masked_input_request;
  std::function<void(const std::string&, v1::MaskedInput&)> edit_masked_input;
  std::function<void(const std::string&, v1::UnmaskRequest&)> edit_unmask_request;
  std::function<void(const std::string&, v1::UnmaskResponse&)> edit_unmask_response;

  // Each runs one phase (clients answer the pending requests, the server
  // handles the answers) and then closes it with StartNextPhase (phases 0-2)
  // or Finish (phase 3), returning that call's status.
  absl::Status RunAdvertiseKeys();
  absl::Status RunShareKeys();
  absl::Status RunMaskedInput();
  absl::StatusOr<std::vector<uint64_t>> RunUnmask();
  // All four phases; stops at the first failing StartNextPhase.
  absl::StatusOr<std::vector<uint64_t>> Run();

  // Sum mod 2^bits of the inputs of `sites`, computed directly.
  std::vector<uint64_t> PlainSum(const std::vector<std::string>& sites) const;

  // What happened: errors returned by clients and by server->Handle*, per
  // site (the last one), the messages clients sent, and how many unmask
  // requests reached clients.
  std::map<std::string, absl::Status> client_errors;
  std::map<std::string, absl::Status> handle_errors;
  std::map<std::string, v1::AdvertiseKeys> advertisements;
  std::map<std::string, v1::ShareKeysResponse> share_keys_responses;
  std::map<std::string, v1::MaskedInput> masked_inputs;
  std::map<std::string, v1::UnmaskResponse> unmask_responses;
  int unmask_requests_delivered = 0;
  absl::btree_map<std::string, v1::SecAggRequest> requests;  // the latest phase's

 private:
  bool Silent(const std::string& site, v1::SecAggPhase phase) const;
  absl::Status CloseWith(absl::StatusOr<absl::btree_map<std::string, v1::SecAggRequest>> next);

  v1::SecAggContext context_;
  std::vector<std::string> sites_;
  util::SimulatedClock clock_;
  std::unique_ptr<SecAggServer> server_;
  std::map<std::string, std::unique_ptr<crypto::FakePrng>> prngs_;
  std::map<std::string, std::unique_ptr<SecAggClient>> clients_;
  std::map<std::string, std::vector<uint64_t>> inputs_;
  std::map<std::string, v1::SecAggPhase> silent_from_;
};

}  // namespace cohort::secagg::testing

#endif  // COHORT_TESTS_CRYPTO_SECAGG_PROTOCOL_HARNESS_H_
