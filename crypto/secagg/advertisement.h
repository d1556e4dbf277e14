// Phase 0 of secure aggregation: a site's signed advertisement of its two
// X25519 public keys, and the check every receiver (the server, and each
// neighbour, which must not trust the server) applies to it.
//
// Security: the signature, by the key of the site's consortium certificate,
// covers RoundParams::AdvertisementBytes (context digest, study, round,
// attempt, phase 0, site, both keys), so the coordinator cannot substitute
// keys (which would let it decrypt shares or recompute masks) and an
// advertisement from another round does not verify (Bonawitz et al. 2017,
// section 4, "active adversary" key authentication).
//
// Thread-safety: free functions; the Signer must be usable concurrently only
// if the caller shares it between threads.
#ifndef COHORT_CRYPTO_SECAGG_ADVERTISEMENT_H_
#define COHORT_CRYPTO_SECAGG_ADVERTISEMENT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cohort/v1/secagg.pb.h"
#include "crypto/secagg/round_params.h"
#include "crypto/signature.h"

namespace cohort::secagg {

// The public keys of a verified advertisement.
struct PeerKeys {
  std::string enc_public_key;
  std::string mask_public_key;
};

// Builds and signs `site`'s advertisement. Errors from the signer.
absl::StatusOr<v1::AdvertiseKeys> SignAdvertisement(const RoundParams& params,
                                                    absl::string_view site,
                                                    absl::string_view cert_pem,
                                                    const crypto::Signer& signer,
                                                    absl::string_view enc_public_key,
                                                    absl::string_view mask_public_key);

// Verifies an advertisement that should come from `site`. On failure returns a
// Fault (see fault.h) with reason:
//   REPLAYED_OR_MISBOUND  it names another site, or is bound to another context;
//   MALFORMED             a key is not 32 bytes;
//   BAD_CERTIFICATE       the certificate does not chain to the consortium CA
//                         of `certificates` at `now`, or is not a site
//                         certificate for `site`;
//   BAD_SIGNATURE         the signature does not verify.
// The certificate check goes through `certificates`, which remembers
// certificates it accepted (re-checking only their validity at `now`).
absl::StatusOr<PeerKeys> VerifyAdvertisement(const RoundParams& params, absl::string_view site,
                                             const v1::AdvertiseKeys& ad,
                                             crypto::CertificateVerifier& certificates,
                                             absl::Time now);

}  // namespace cohort::secagg

#endif  // COHORT_CRYPTO_SECAGG_ADVERTISEMENT_H_
