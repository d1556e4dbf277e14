// The site's side of Cohort's secure aggregation: double masking (Bonawitz et
// al., "Practical Secure Aggregation for Privacy-Preserving Machine
// Learning", CCS 2017) over the SecAgg+ neighbour graph (Bell et al., CCS
// 2020). Protocol and message flow: docs/secure-aggregation.md.
//
// A SecAggClient runs one session (one study round attempt) for one site. It
// knows nothing of transport: the site agent passes it each request of the
// coordinator and sends back what it returns. One method per phase:
//
//   AdvertiseKeys()                 phase 0: fresh X25519 keys c and s, signed
//   ShareKeys(ShareKeysRequest)     phase 1: verify neighbours, share s_sk and b
//   MaskInput(MaskedInputRequest, x) phase 2: decrypt shares, y = x + masks
//   Unmask(UnmaskRequest)           phase 3: reveal b-shares of survivors or
//                                   s-shares of dropouts, never both
//
// Internally each phase is a state object (fcp style) sharing one session
// object; StateName() says where the client is.
//
// Errors and refusals. A request the client must not answer is refused: the
// method returns a Fault (fault.h; DropReasonOf() gives the reason), the
// refusal is logged and kept in refusals(). Refusals that protect secrets
// (REFUSED_REQUEST, TOO_FEW_SURVIVORS) end the session: every later call
// returns FailedPrecondition. A request bound to another session
// (REPLAYED_OR_MISBOUND) or MALFORMED is rejected without ending it, so a
// stale or garbled delivery does not kill a round. A neighbour whose
// advertisement or ciphertext fails verification is ignored (never trusted,
// never masked with), logged, kept in rejected_peers(), and in phase 2
// reported to the server as a Complaint.
//
// Security: the client trusts neither the coordinator nor other sites with
// its secrets. It verifies every neighbour's advertisement against the
// consortium CA itself; refuses an unmask request that names a site both as
// survivor and dropout, differs from one it already answered, or leaves fewer
// than `threshold` of its neighbourhood alive (any of these could let the
// server unmask one site's input). Secrets (X25519 private keys, b, shares)
// live in SecretData or are wiped after use.
//
// Ownership and thread-safety: owns its session; borrows the SecurePrng and
// Clock, which must outlive it. Not thread-safe: call from one thread (or
// serialise calls).
#ifndef COHORT_CRYPTO_SECAGG_CLIENT_H_
#define COHORT_CRYPTO_SECAGG_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "cohort/v1/secagg.pb.h"
#include "common/util/clock.h"
#include "crypto/random.h"
#include "crypto/signature.h"

namespace cohort::secagg {

struct SecAggClientConfig {
  v1::SecAggContext context;
  // This site's name (a participant) and its certificate (PEM) and signing key.
  std::string site;
  std::string cert_pem;
  std::shared_ptr<const crypto::Signer> signer;
  // The consortium CA (PEM) that neighbours' certificates must chain to
  // (unused by the Create that takes a CertificateVerifier).
  std::string ca_pem;
};

// A refused request, or a neighbour the client stopped trusting.
struct Refusal {
  v1::SecAggPhase phase;
  v1::DropReason reason;
  std::string message;
};

class ClientSession;
class ClientState;

class SecAggClient {
 public:
  // InvalidArgument if the context is invalid (see RoundParams::Create), the
  // site is not a participant, the signer is missing, or ca_pem does not
  // parse; PermissionDenied if cert_pem does not chain to the CA at
  // clock.Now() or is not this site's.
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Create(SecAggClientConfig config,
                                                              crypto::SecurePrng& prng,
                                                              const util::Clock& clock);
  // The same, checking certificates (its own and its neighbours') with
  // `certificates` instead of config.ca_pem. Keep one across the site's
  // rounds (it is thread-safe) so that each neighbour's certificate is fully
  // verified once per process and afterwards only its validity window
  // (crypto/signature.h). Also InvalidArgument if `certificates` is null.
  static absl::StatusOr<std::unique_ptr<SecAggClient>> Create(
      SecAggClientConfig config, std::shared_ptr<crypto::CertificateVerifier> certificates,
      crypto::SecurePrng& prng, const util::Clock& clock);
  ~SecAggClient();
  SecAggClient(const SecAggClient&) = delete;
  SecAggClient& operator=(const SecAggClient&) = delete;

  // Phase 0. FailedPrecondition if called twice; Internal on a PRNG or
  // signing failure.
  absl::StatusOr<v1::AdvertiseKeys> AdvertiseKeys();

  // Phase 1. Refuses with REPLAYED_OR_MISBOUND if the request's context
  // differs from this session's, TOO_FEW_SURVIVORS if fewer than `threshold`
  // of its neighbourhood (itself included) have a valid advertisement.
  absl::StatusOr<v1::ShareKeysResponse> ShareKeys(const v1::ShareKeysRequest& request);

  // Phase 2. `input` must hold vector_length values below 2^bits
  // (InvalidArgument otherwise, not a refusal). Refuses with
  // REPLAYED_OR_MISBOUND or TOO_FEW_SURVIVORS (fewer than `threshold` of the
  // neighbourhood sent valid shares).
  absl::StatusOr<v1::MaskedInput> MaskInput(const v1::MaskedInputRequest& request,
                                            absl::Span<const uint64_t> input);

  // Phase 3. Answers an identical repeated request with the same response;
  // refuses (REFUSED_REQUEST) a request that names a site in both lists,
  // names this site a dropout, or differs from one already answered;
  // TOO_FEW_SURVIVORS if fewer than `threshold` sites survive overall or in
  // its neighbourhood; MALFORMED or REPLAYED_OR_MISBOUND for garbage.
  absl::StatusOr<v1::UnmaskResponse> Unmask(const v1::UnmaskRequest& request);

  // Dispatches on the request kind (ShareKeys, Unmask; MaskedInput needs the
  // input and is InvalidArgument here).
  absl::StatusOr<v1::SecAggResponse> Handle(const v1::SecAggRequest& request);

  // "AdvertiseKeys", "ShareKeys", "MaskedInput", "Unmask", "Completed",
  // "Aborted": the phase the client is waiting to run.
  std::string StateName() const;
  bool aborted() const;
  const std::vector<Refusal>& refusals() const;
  const std::map<std::string, Refusal>& rejected_peers() const;

 private:
  template <typename Response, typename Run>
  absl::StatusOr<Response> Step(Run run);

  SecAggClient(std::unique_ptr<ClientSession> session, std::unique_ptr<ClientState> state);
  std::unique_ptr<ClientSession> session_;
  std::unique_ptr<ClientState> state_;
};

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_CLIENT_H_
