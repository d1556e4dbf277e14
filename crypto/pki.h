// The consortium's X.509 PKI: one self-signed CA per consortium, and short
// leaf certificates for sites, the coordinator and administrators, all on
// ECDSA P-256 with SHA-256. These are the credentials for Cohort's mutual TLS.
//
// Identity: a leaf certificate names its holder in one URI subjectAltName,
// `cohort://<role>/<name>` (e.g. `cohort://site/hungary`). That SAN, signed by
// the consortium CA, is the only thing the coordinator and sites trust to
// decide who a peer is; the subject (O=<consortium>, OU=<role>, CN=<name>) is
// for humans. The coordinator's certificate also carries DNS/IP SANs so that
// ordinary TLS hostname checks work.
//
// Security: certificates follow RFC 5280 profiles (basicConstraints,
// keyUsage, extendedKeyUsage, subject/authority key identifiers, 128-bit
// random serials per the CA/Browser Forum baseline's >= 64 bits of entropy).
// Private keys are returned as unencrypted PKCS#8 PEM; the caller must store
// them with mode 0600 (see crypto/files.h). Verification is done by OpenSSL's
// X509_verify_cert with X509_V_FLAG_X509_STRICT at a caller-supplied time, so
// expiry is checked against an injected clock, not a hidden `now()`.
//
// Thread-safety: all functions are thread-safe (no shared state).
#ifndef COHORT_CRYPTO_PKI_H_
#define COHORT_CRYPTO_PKI_H_

#include <string>
#include <vector>

#include <openssl/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cohort::crypto {

// What a certificate holder may do in the consortium.
enum class Role { kSite, kCoordinator, kAdmin };

// "site", "coordinator" or "admin": the spelling used in the identity URI and
// the subject OU.
absl::string_view RoleName(Role role);

// Inverse of RoleName. Returns InvalidArgument naming `name` otherwise.
absl::StatusOr<Role> ParseRole(absl::string_view name);

// A certificate and its private key, both PEM. Owns plain strings; the key is
// secret, so keep copies short-lived and never log them.
struct Credential {
  std::string cert_pem;
  std::string key_pem;
};

// Checks a site/coordinator/admin name: 1 to 64 characters of [a-z0-9._-].
// Names become file names and URI path segments, hence the small alphabet.
// Returns InvalidArgument naming the offending name otherwise.
absl::Status ValidateEntityName(absl::string_view name);

// Creates the consortium's self-signed root CA: ECDSA P-256 key, subject
// O=<consortium_name>, CN=Cohort Root CA; basicConstraints critical CA:TRUE;
// keyUsage critical keyCertSign, cRLSign; subjectKeyIdentifier; valid from
// `not_before` for `validity`.
// Returns InvalidArgument if `consortium_name` is empty, longer than 64 bytes
// or contains control characters, or `validity` is not positive; Internal if
// OpenSSL fails.
absl::StatusOr<Credential> CreateCertificateAuthority(
    absl::string_view consortium_name, absl::Time not_before,
    absl::Duration validity);

// Issues a leaf certificate for `name` in `role`, signed by `ca`.
//
// Subject: O=<consortium from the CA subject>, OU=<role>, CN=<name>.
// SANs: URI cohort://<role>/<name>, plus for each of `hostnames` an iPAddress
// if it parses as an IPv4/IPv6 literal, else a dNSName. (Coordinators list the
// names clients dial; sites and admins normally pass none.)
// extendedKeyUsage: coordinator serverAuth+clientAuth, site and admin
// clientAuth. keyUsage critical digitalSignature; basicConstraints CA:FALSE;
// subject and authority key identifiers. `not_before` may lie in the past,
// which is how tests make expired certificates.
//
// Returns InvalidArgument for a bad `name` (see ValidateEntityName), a bad
// hostname, a non-positive `validity`, or a `ca` whose PEM does not parse,
// is not a CA, or whose key does not match its certificate; Internal if
// OpenSSL fails.
absl::StatusOr<Credential> IssueCertificate(
    const Credential& ca, Role role, absl::string_view name,
    const std::vector<std::string>& hostnames, absl::Time not_before,
    absl::Duration validity);

// Who a certificate says its holder is.
struct PeerIdentity {
  Role role;
  std::string name;

  friend bool operator==(const PeerIdentity&, const PeerIdentity&) = default;
};

// Reads the holder's identity from the certificate's `cohort://` URI SAN.
// Does NOT verify the certificate: call VerifyCertificateChain first (or get
// the certificate from a TLS handshake that did).
// Returns InvalidArgument if `cert_pem` does not parse; PermissionDenied if the
// certificate has no `cohort://` URI SAN, more than one, or a malformed one
// (unknown role, invalid name), with a message saying which.
absl::StatusOr<PeerIdentity> IdentityFromCertificatePem(absl::string_view cert_pem);
// The same for a certificate already parsed (parsing is the costly part:
// OpenSSL 3 decodes the public key with every certificate).
absl::StatusOr<PeerIdentity> IdentityFromCertificate(const X509& cert);

// Verifies that `cert_pem` (the first certificate in it) chains to a CA
// certificate in `ca_pem` and that every certificate on the path is valid at
// `now`.
// Returns InvalidArgument if either PEM does not parse; PermissionDenied if
// verification fails, with OpenSSL's reason (e.g. "certificate has expired",
// "unable to get local issuer certificate", "certificate signature failure")
// and the subject of the certificate being verified in the message.
absl::Status VerifyCertificateChain(absl::string_view cert_pem,
                                    absl::string_view ca_pem, absl::Time now);

// The end of the certificate's validity period.
// Returns InvalidArgument if `cert_pem` does not parse.
absl::StatusOr<absl::Time> CertificateNotAfter(absl::string_view cert_pem);

// A human-readable summary of a certificate, for `cohort pki show` and logs.
struct CertificateInfo {
  std::string subject;  // RFC 2253, e.g. "CN=hungary,OU=site,O=acme"
  std::string issuer;   // RFC 2253
  std::string serial_hex;
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;
  // subjectAltName entries in certificate order, prefixed with their type:
  // "URI:cohort://site/x", "DNS:host.example", "IP:127.0.0.1".
  std::vector<std::string> subject_alt_names;
  std::string sha256_fingerprint_hex;  // over the DER encoding
};

// Parses `cert_pem` into a CertificateInfo. Does not verify it.
// Returns InvalidArgument if `cert_pem` does not parse.
absl::StatusOr<CertificateInfo> DescribeCertificate(absl::string_view cert_pem);

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_PKI_H_
