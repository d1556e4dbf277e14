#include "common/net/tls.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace cohort::net {
namespace {

// Verifies a client's certificate chain against the consortium CA, and logs
// each refusal with OpenSSL's reason.
class ConsortiumVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit ConsortiumVerifier(std::string ca_pem) : ca_pem_(std::move(ca_pem)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    const grpc::string_ref cert = request->peer_cert();
    const std::string pem(cert.data(), cert.size());
    if (pem.empty()) {
      Refuse("no client certificate presented", sync_status);
      return true;
    }
    absl::Status chain = crypto::VerifyCertificateChain(pem, ca_pem_, absl::Now());
    if (!chain.ok()) {
      Refuse(chain.message(), sync_status);
      return true;
    }
    auto identity = crypto::IdentityFromCertificatePem(pem);
    if (!identity.ok()) {
      Refuse(identity.status().message(), sync_status);
      return true;
    }
    *sync_status = grpc::Status::OK;
    return true;
  }

  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  static void Refuse(absl::string_view reason, grpc::Status* status) {
    util::LogWarn({}, absl::StrCat("refused TLS connection: ", reason));
    *status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, std::string(reason));
  }

  const std::string ca_pem_;
};

struct LoadedFiles {
  std::string ca, cert, key;
};

absl::StatusOr<LoadedFiles> Load(const TlsFiles& files) {
  LoadedFiles out;
  ASSIGN_OR_RETURN(out.ca, crypto::ReadFile(files.ca));
  ASSIGN_OR_RETURN(out.cert, crypto::ReadFile(files.cert));
  ASSIGN_OR_RETURN(out.key, crypto::ReadFile(files.key));
  return out;
}

}  // namespace

absl::StatusOr<TlsFiles> TlsFilesFromConfig(const util::ConfigNode& tls,
                                            const std::string& base_dir) {
  RETURN_IF_ERROR(tls.CheckKeys({"ca", "cert", "key"}));
  ASSIGN_OR_RETURN(std::string ca, tls.GetString("ca"));
  ASSIGN_OR_RETURN(std::string cert, tls.GetString("cert"));
  ASSIGN_OR_RETURN(std::string key, tls.GetString("key"));
  return TlsFiles{util::ResolvePath(base_dir, ca), util::ResolvePath(base_dir, cert),
                  util::ResolvePath(base_dir, key)};
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  ASSIGN_OR_RETURN(LoadedFiles loaded, Load(files));
  using grpc::experimental::IdentityKeyCertPair;
  std::vector<IdentityKeyCertPair> pairs = {{loaded.key, loaded.cert}};
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      loaded.ca, pairs);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<ConsortiumVerifier>(
          loaded.ca));
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsFiles& files) {
  ASSIGN_OR_RETURN(LoadedFiles loaded, Load(files));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = loaded.ca;
  options.pem_private_key = loaded.key;
  options.pem_cert_chain = loaded.cert;
  return grpc::SslCredentials(options);
}

absl::StatusOr<crypto::PeerIdentity> PeerIdentityOf(const grpc::ServerContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return absl::UnauthenticatedError("call has no TLS context");
  std::vector<grpc::string_ref> certs = auth->FindPropertyValues("x509_pem_cert");
  if (certs.empty()) {
    return absl::UnauthenticatedError("call carries no client certificate");
  }
  return crypto::IdentityFromCertificatePem(
      absl::string_view(certs.front().data(), certs.front().size()));
}

absl::Status CheckOwnCertificate(const TlsFiles& files) {
  ASSIGN_OR_RETURN(LoadedFiles loaded, Load(files));
  absl::Status chain = crypto::VerifyCertificateChain(loaded.cert, loaded.ca, absl::Now());
  if (!chain.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", files.cert, " is not valid for the consortium CA in ",
        files.ca, ": ", chain.message()));
  }
  return absl::OkStatus();
}

}  // namespace cohort::net
