#include "crypto/signature.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {
namespace {

// Never prompt on the terminal for a passphrase (see pki.cc).
int RefusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

// The only key type Cohort's PKI issues.
bool IsP256Key(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  char group[64] = {};
  size_t group_len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len) != 1) return false;
  return std::strcmp(group, "prime256v1") == 0;
}

}  // namespace

class Signer::Impl {
 public:
  explicit Impl(EvpPkeyPtr key) : key_(std::move(key)) {}
  EVP_PKEY* key() const { return key_.get(); }

 private:
  EvpPkeyPtr key_;
};

Signer::Signer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Signer::~Signer() = default;

absl::StatusOr<std::unique_ptr<Signer>> Signer::FromPrivateKeyPem(absl::string_view key_pem) {
  BioPtr bio = NewReadOnlyMemBio(key_pem);
  if (bio == nullptr) return absl::InvalidArgumentError("private key PEM too large");
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key PEM does not parse: ", ConsumeOpenSslErrors()));
  }
  if (!IsP256Key(key.get())) {
    return absl::InvalidArgumentError("private key is not an ECDSA P-256 key");
  }
  return std::unique_ptr<Signer>(new Signer(std::make_unique<Impl>(std::move(key))));
}

absl::StatusOr<std::string> Signer::Sign(absl::string_view data) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  size_t sig_len = 0;
  if (ctx == nullptr ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(
        absl::StrCat("ECDSA signing setup failed: ", ConsumeOpenSslErrors()));
  }
  std::string signature(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return absl::InternalError(absl::StrCat("ECDSA signing failed: ", ConsumeOpenSslErrors()));
  }
  signature.resize(sig_len);  // DER signatures vary in length.
  return signature;
}

class Verifier::Impl {
 public:
  explicit Impl(EvpPkeyPtr key) : key_(std::move(key)) {}
  EVP_PKEY* key() const { return key_.get(); }

 private:
  EvpPkeyPtr key_;
};

Verifier::Verifier(std::unique_ptr<Impl> impl, PeerIdentity identity)
    : impl_(std::move(impl)), identity_(std::move(identity)) {}

Verifier::~Verifier() = default;

absl::StatusOr<std::unique_ptr<Verifier>> Verifier::FromCertificate(absl::string_view cert_pem,
                                                                    absl::string_view ca_pem,
                                                                    absl::Time now) {
  RETURN_IF_ERROR(VerifyCertificateChain(cert_pem, ca_pem, now));
  ASSIGN_OR_RETURN(PeerIdentity identity, IdentityFromCertificatePem(cert_pem));

  // The first certificate in the PEM: the one VerifyCertificateChain checked.
  BioPtr bio = NewReadOnlyMemBio(cert_pem);
  if (bio == nullptr) return absl::InvalidArgumentError("certificate PEM too large");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate PEM does not parse: ", ConsumeOpenSslErrors()));
  }
  // X509_get_key_usage reports "all usages" when the extension is absent.
  if ((X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("certificate of ", identity.name, " may not sign (no digitalSignature)"));
  }
  EvpPkeyPtr key(X509_get_pubkey(cert.get()));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate public key does not parse: ", ConsumeOpenSslErrors()));
  }
  if (!IsP256Key(key.get())) {
    return absl::PermissionDeniedError("certificate key is not an ECDSA P-256 key");
  }
  return std::unique_ptr<Verifier>(
      new Verifier(std::make_unique<Impl>(std::move(key)), std::move(identity)));
}

absl::Status Verifier::Verify(absl::string_view data, absl::string_view signature) const {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, impl_->key()) != 1) {
    return absl::InternalError(
        absl::StrCat("ECDSA verification setup failed: ", ConsumeOpenSslErrors()));
  }
  // 1 is a valid signature; 0 a wrong one; negative a malformed one. Only 1
  // passes, and a failure's error-queue entries are not left for the next
  // OpenSSL caller on this thread.
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
    ERR_clear_error();
    return absl::PermissionDeniedError("signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace cohort::crypto
