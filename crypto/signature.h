// Signatures with a party's certificate key (ECDSA P-256 with SHA-256, the
// key type `cohort pki` issues), verified against the consortium CA chain.
//
// Security: a Verifier is only created for a certificate that chains to the
// consortium CA at the given time, and it is bound to that certificate's
// Cohort identity, so a signature proves "site NAME of this consortium signed
// these bytes". Callers sign a context-bound encoding of what they mean
// (study, round, phase), never bare data.
//
// CertificateVerifier does the same check for many certificates against one
// CA without re-parsing anything: the CA once, each certificate once per
// process (see below).
#ifndef COHORT_CRYPTO_SIGNATURE_H_
#define COHORT_CRYPTO_SIGNATURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
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

// Checks signatures by one certificate's key. Immutable, hence thread-safe.
class Verifier {
 public:
  // InvalidArgument if either PEM does not parse; PermissionDenied if
  // `cert_pem` does not chain to `ca_pem` at `now` (see
  // VerifyCertificateChain), has no Cohort identity, may not sign
  // (keyUsage) or has no ECDSA P-256 key. Parses `ca_pem` on every call: to
  // verify many certificates, use a CertificateVerifier.
  static absl::StatusOr<std::unique_ptr<Verifier>> FromCertificate(absl::string_view cert_pem,
                                                                   absl::string_view ca_pem,
                                                                   absl::Time now);
  ~Verifier();
  const PeerIdentity& identity() const { return identity_; }
  // OK, or PermissionDenied("signature does not verify").
  absl::Status Verify(absl::string_view data, absl::string_view signature) const;

 private:
  friend class CertificateVerifier;
  class Impl;
  Verifier(std::unique_ptr<Impl> impl, PeerIdentity identity);
  std::unique_ptr<Impl> impl_;
  PeerIdentity identity_;
};

// Makes Verifiers for certificates of one consortium, for a process that
// checks the same certificates again and again (the secure-aggregation
// server verifies every site's advertisement each round, and each site its
// neighbours'). The CA PEM is parsed once into an X509 store. A certificate
// that passed is remembered, keyed by its exact PEM, with its Verifier and
// the certificates of its verified path; asking again for it costs a hash
// lookup and a re-check of the validity windows at the new `now`.
//
// Security: a Verifier is handed out under exactly the conditions of
// Verifier::FromCertificate. What is remembered cannot change with time:
// the chain signature, the identity, the keyUsage and the key type are
// properties of the certificate bytes (the cache key) and of the CA, which is
// fixed for the life of this object. Only validity depends on `now`, and
// every hit re-checks the notBefore/notAfter of every certificate on the
// verified path (leaf and CA) with OpenSSL's own comparison (X509_cmp_time,
// as X509_verify_cert does), so an expired or not-yet-valid certificate or CA
// is refused at the same instant the full check would refuse it. Failures
// are never cached. Like the uncached path, there is no revocation checking
// (docs/threat-model.md, "No certificate revocation").
//
// Memory: at most kMaxCached certificates (a few kB each) are remembered;
// beyond that the cache is emptied and refills.
//
// Thread-safety: thread-safe. Share one instance (std::shared_ptr) between
// all sessions of a process that trust the same CA.
class CertificateVerifier {
 public:
  static constexpr size_t kMaxCached = 4096;

  // InvalidArgument if `ca_pem` holds no parsable certificate; Internal if
  // OpenSSL fails.
  static absl::StatusOr<std::shared_ptr<CertificateVerifier>> New(absl::string_view ca_pem);
  ~CertificateVerifier();
  CertificateVerifier(const CertificateVerifier&) = delete;
  CertificateVerifier& operator=(const CertificateVerifier&) = delete;

  // A Verifier for the first certificate of `cert_pem`, valid at `now`.
  // Errors as Verifier::FromCertificate: InvalidArgument if it does not
  // parse; PermissionDenied if it does not chain to the CA at `now` (the
  // message names OpenSSL's reason, e.g. "certificate has expired"), has no
  // Cohort identity, may not sign or has no P-256 key.
  absl::StatusOr<std::shared_ptr<const Verifier>> VerifierFor(absl::string_view cert_pem,
                                                              absl::Time now);

  // How many certificates are remembered.
  size_t cached() const;

 private:
  friend class Verifier;  // FromCertificate is a one-shot Store
  class Store;
  struct Entry;
  explicit CertificateVerifier(std::unique_ptr<Store> store);

  const std::unique_ptr<Store> store_;  // immutable after New
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Entry>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_SIGNATURE_H_
