// Signatures with a party's certificate key (ECDSA P-256 with SHA-256, the
// key type `cohort pki` issues), verified against the consortium CA chain.
//
// Security: a Verifier is only created for a certificate that chains to the
// consortium CA at the given time, and it is bound to that certificate's
// Cohort identity, so a signature proves "site NAME of this consortium signed
// these bytes". Callers sign a context-bound encoding of what they mean
// (study, round, phase), never bare data.
#ifndef COHORT_CRYPTO_SIGNATURE_H_
#define COHORT_CRYPTO_SIGNATURE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/pki.h"

namespace cohort::crypto {

class Signer {
 public:
  // From a PEM private key (as written by `cohort pki issue`).
  static absl::StatusOr<std::unique_ptr<Signer>> FromPrivateKeyPem(absl::string_view key_pem);
  ~Signer();
  // DER-encoded ECDSA signature over SHA-256(data).
  absl::StatusOr<std::string> Sign(absl::string_view data) const;

 private:
  class Impl;
  explicit Signer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Verifier {
 public:
  // PermissionDenied if `cert_pem` does not chain to `ca_pem` at `now` or has
  // no Cohort identity (see VerifyCertificateChain).
  static absl::StatusOr<std::unique_ptr<Verifier>> FromCertificate(absl::string_view cert_pem,
                                                                   absl::string_view ca_pem,
                                                                   absl::Time now);
  ~Verifier();
  const PeerIdentity& identity() const { return identity_; }
  // OK, or PermissionDenied("signature does not verify").
  absl::Status Verify(absl::string_view data, absl::string_view signature) const;

 private:
  class Impl;
  Verifier(std::unique_ptr<Impl> impl, PeerIdentity identity);
  std::unique_ptr<Impl> impl_;
  PeerIdentity identity_;
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_SIGNATURE_H_
