// Mutual-TLS credentials for Cohort's gRPC endpoints, and the peer identity
// read from a verified client certificate.
//
// The coordinator requires a client certificate on every connection and
// verifies it itself (chain to the consortium CA, validity at the current
// time, a `cohort://ROLE/NAME` identity), so that every refusal is logged with
// its reason instead of disappearing inside the TLS stack. Sites verify the
// coordinator's certificate against the same CA and its host name.
//
// Security: TLS itself still checks that the peer holds the certificate's
// private key (CertificateVerify); only the chain check is done here, with
// OpenSSL's X509_verify_cert (see crypto/pki.h).
#ifndef COHORT_COMMON_NET_TLS_H_
#define COHORT_COMMON_NET_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/util/config_node.h"
#include "crypto/pki.h"
#include "grpcpp/grpcpp.h"

namespace cohort::net {

struct TlsFiles {
  std::string ca;    // consortium CA certificate (PEM)
  std::string cert;  // this party's certificate (PEM)
  std::string key;   // this party's private key (PEM)
};

// Reads a `tls: {ca, cert, key}` section; relative paths resolve against
// `base_dir`. InvalidArgument naming the field.
absl::StatusOr<TlsFiles> TlsFilesFromConfig(const util::ConfigNode& tls,
                                            const std::string& base_dir);

// Server credentials that demand and verify a client certificate chained to
// `files.ca`. Refused handshakes are logged with the reason.
// NotFound/InvalidArgument if a file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

// Channel credentials presenting this party's certificate and trusting only
// the consortium CA.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files);

// The identity in the verified client certificate of a call.
// Unauthenticated if the call carries no certificate; PermissionDenied if the
// certificate has no Cohort identity.
absl::StatusOr<crypto::PeerIdentity> PeerIdentityOf(const grpc::ServerContext& context);

// Checks, before connecting, that this party's own certificate chains to the
// CA and is valid now: a clear local explanation for a refused handshake.
absl::Status CheckOwnCertificate(const TlsFiles& files);

}  // namespace cohort::net

#endif  // COHORT_COMMON_NET_TLS_H_
