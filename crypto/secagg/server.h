// The coordinator's side of Cohort's secure aggregation (Bonawitz et al., CCS
// 2017, over the SecAgg+ neighbour graph of Bell et al., CCS 2020). Protocol,
// message flow and what the server learns: docs/secure-aggregation.md.
//
// A SecAggServer runs one session (one study round attempt). It knows nothing
// of transport: the coordinator passes it each site's message (from the
// authenticated mTLS peer `site`) and, when a phase's deadline passes or every
// site answered, calls StartNextPhase() and delivers the per-site requests it
// returns. After the unmask phase, Finish() returns the sum.
//
//   phase 0  HandleAdvertiseKeys     StartNextPhase -> ShareKeysRequest per site
//   phase 1  HandleShareKeysResponse StartNextPhase -> MaskedInputRequest per site
//   phase 2  HandleMaskedInput       StartNextPhase -> UnmaskRequest per survivor
//   phase 3  HandleUnmaskResponse    Finish -> sum of the survivors' inputs
//
// Internally each phase is a state object with StateName() (fcp style); the
// session data lives in one ServerSession the states share.
//
// Dropping. A site that sends nothing in a phase, or a message that fails a
// check, is dropped with a cohort.v1.DropReason (logged, see dropped()); the
// round goes on while enough sites remain. A site whose neighbourhood falls
// below `threshold` live sites is dropped too (TOO_FEW_SURVIVORS). In phase 3
// a bad or missing response only loses that site's shares (unmask_faults());
// its input stays in the sum.
//
// Aborting. If fewer than `threshold` sites remain, or some survivor's
// self-mask seed or some needed dropout's mask key could not be
// reconstructed from `threshold` shares, the round aborts: StartNextPhase or
// Finish returns FailedPrecondition, no output is produced and, when that is
// decided before phase 3, no unmask request (so no share) is ever sent.
//
// Security: the server asks for the self-mask seed shares of survivors and
// the mask-key shares of dropouts, never both for one site (checked again
// before reconstruction), so it learns only the sum of the survivors' inputs
// (mod 2^bits), plus who survived and who dropped. It checks every
// advertisement's certificate and signature; a reconstructed mask key must
// match the advertised public key.
//
// Ownership and thread-safety: owns its session; borrows the Clock (must
// outlive it). Not thread-safe: the caller serialises calls.
#ifndef COHORT_CRYPTO_SECAGG_SERVER_H_
#define COHORT_CRYPTO_SECAGG_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cohort/v1/secagg.pb.h"
#include "common/util/clock.h"
#include "crypto/signature.h"

namespace cohort::secagg {

// Why and when a site left the round.
struct DropInfo {
  v1::DropReason reason;
  v1::SecAggPhase phase;
  std::string message;
};

class ServerSession;
class ServerState;

class SecAggServer {
 public:
  // `certificates` checks the sites' certificates against the consortium CA;
  // keep one across rounds (it is thread-safe) so that each site's
  // certificate is fully verified once per process and afterwards only its
  // validity window at clock.Now() (crypto/signature.h).
  // InvalidArgument if the context is invalid (see RoundParams::Create) or
  // `certificates` is null.
  static absl::StatusOr<std::unique_ptr<SecAggServer>> Create(
      const v1::SecAggContext& context, std::shared_ptr<crypto::CertificateVerifier> certificates,
      const util::Clock& clock);
  // The same with a CertificateVerifier of its own, made from `ca_pem` (so
  // nothing is remembered from one round to the next). Also InvalidArgument
  // if `ca_pem` does not parse.
  static absl::StatusOr<std::unique_ptr<SecAggServer>> Create(const v1::SecAggContext& context,
                                                              std::string ca_pem,
                                                              const util::Clock& clock);
  ~SecAggServer();
  SecAggServer(const SecAggServer&) = delete;
  SecAggServer& operator=(const SecAggServer&) = delete;

  // Each returns OK if the message was accepted (an identical redelivery is
  // accepted again), or the Fault (fault.h) for which `site` was just
  // dropped. NotFound if `site` is not a participant; FailedPrecondition if
  // the site is already dropped, the message belongs to another phase, or
  // the round is over.
  //
  // The server keeps each accepted message until its phase closes (to tell
  // a redelivery from a second, different message, which it compares only
  // when one arrives), and the masked inputs until the round ends. The
  // rvalue Handle takes the message over without copying it: at d = 10^6 a
  // masked input is 4 MB, and the coordinator passes it on this way.
  absl::Status HandleAdvertiseKeys(absl::string_view site, const v1::AdvertiseKeys& message);
  absl::Status HandleShareKeysResponse(absl::string_view site,
                                       const v1::ShareKeysResponse& message);
  absl::Status HandleMaskedInput(absl::string_view site, const v1::MaskedInput& message);
  absl::Status HandleUnmaskResponse(absl::string_view site, const v1::UnmaskResponse& message);
  // Dispatch on the message kind. The const& form copies the message.
  absl::Status Handle(absl::string_view site, v1::SecAggResponse&& message);
  absl::Status Handle(absl::string_view site, const v1::SecAggResponse& message);

  // Closes the current phase (sites that did not answer are dropped with
  // MISSING_MESSAGE) and returns the next phase's request for each live
  // site, keyed by site name. FailedPrecondition if the round aborts (then
  // there are no requests), or in the unmask phase (call Finish).
  absl::StatusOr<absl::btree_map<std::string, v1::SecAggRequest>> StartNextPhase();

  // In the unmask phase: reconstructs the survivors' self-mask seeds and the
  // needed dropouts' mask keys, removes every mask, and returns the sum mod
  // 2^bits of the survivors' inputs (vector_length values). Calling it again
  // returns the same sum. FailedPrecondition if the round aborts (too few
  // shares) or it is called in another phase; DataLoss if a reconstructed
  // mask key does not match its advertised public key.
  absl::StatusOr<std::vector<uint64_t>> Finish();

  // "AdvertiseKeys", "ShareKeys", "MaskedInput", "Unmask", "Completed",
  // "Aborted".
  std::string StateName() const;
  v1::SecAggPhase phase() const;
  bool aborted() const;
  // Why the round aborted; empty unless aborted().
  const std::string& abort_reason() const;

  // Sites no longer in the round (their input is not in the sum).
  const absl::btree_map<std::string, DropInfo>& dropped() const;
  // Sites still in the round; after phase 2, exactly the sites whose input
  // is in the sum. Sorted.
  std::vector<std::string> survivors() const;
  // Survivors that sent no or a bad unmask response (their input still counts).
  const absl::btree_map<std::string, DropInfo>& unmask_faults() const;
  // Live sites that have not yet answered the current phase. Sorted.
  std::vector<std::string> pending() const;

 private:
  SecAggServer(std::unique_ptr<ServerSession> session, std::unique_ptr<ServerState> state);
  std::unique_ptr<ServerSession> session_;
  std::unique_ptr<ServerState> state_;
};

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_SERVER_H_
