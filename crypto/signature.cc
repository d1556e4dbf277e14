#include "crypto/signature.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
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

// As pki.cc prints names in verification errors: RFC 2253, quoted, escaped.
std::string SubjectOf(const X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0,
                                           XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return "\"<unprintable name>\"";
  }
  return absl::StrCat("\"", absl::CHexEscape(MemBioContents(bio.get())), "\"");
}

// The PermissionDenied of a failed chain check, worded as
// VerifyCertificateChain (pki.cc) words it.
absl::Status ChainError(const X509* cert, const X509* failing, int error, absl::Time now) {
  std::string message = absl::StrCat("certificate ", SubjectOf(cert), " failed verification: ",
                                     X509_verify_cert_error_string(error));
  if (failing != nullptr && X509_cmp(failing, cert) != 0) {
    absl::StrAppend(&message, " (at issuer ", SubjectOf(failing), ")");
  }
  absl::StrAppend(&message, " [checked at ", absl::FormatTime(now, absl::UTCTimeZone()), "]");
  return absl::PermissionDeniedError(message);
}

// X509_V_OK if `cert` is within its validity window at `t`, else the error
// X509_verify_cert would report for it (the same comparisons as OpenSSL's
// x509_check_cert_time: valid iff notBefore <= t < notAfter, to the second).
int CheckValidityAt(const X509* cert, time_t t) {
  const int before = X509_cmp_time(X509_get0_notBefore(cert), &t);
  if (before == 0) return X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD;
  if (before > 0) return X509_V_ERR_CERT_NOT_YET_VALID;
  const int after = X509_cmp_time(X509_get0_notAfter(cert), &t);
  if (after == 0) return X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD;
  if (after < 0) return X509_V_ERR_CERT_HAS_EXPIRED;
  return X509_V_OK;
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

// The CA certificates, parsed once, in an X509 store; and the full check of
// one certificate against them. Immutable after New, so usable from several
// threads at once (X509_verify_cert only reads the store, under its lock).
class CertificateVerifier::Store {
 public:
  static absl::StatusOr<std::unique_ptr<Store>> New(absl::string_view ca_pem) {
    BioPtr bio = NewReadOnlyMemBio(ca_pem);
    if (bio == nullptr) return absl::InvalidArgumentError("CA certificate is too large");
    X509StorePtr store(X509_STORE_new());
    if (store == nullptr) {
      return absl::InternalError(absl::StrCat("OpenSSL failed allocating a certificate store: ",
                                              ConsumeOpenSslErrors()));
    }
    int count = 0;
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr)) {
      X509Ptr owned(ca);
      if (X509_STORE_add_cert(store.get(), owned.get()) != 1) {  // takes its own reference
        return absl::InternalError(absl::StrCat(
            "OpenSSL failed adding a CA certificate to the store: ", ConsumeOpenSslErrors()));
      }
      ++count;
    }
    if (count == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CA certificate is not a PEM certificate: ", ConsumeOpenSslErrors()));
    }
    ERR_clear_error();  // The loop ends on a "no start line" error.
    return std::unique_ptr<Store>(new Store(std::move(store)));
  }

  // What a successful full check yields.
  struct Checked {
    std::unique_ptr<Verifier> verifier;
    std::vector<X509Ptr> path;  // the verified path, leaf first, CA last
  };

  // The first certificate of `cert_pem`. InvalidArgument if there is none.
  static absl::StatusOr<X509Ptr> ParseLeaf(absl::string_view cert_pem) {
    ERR_clear_error();
    BioPtr bio = NewReadOnlyMemBio(cert_pem);
    if (bio == nullptr) return absl::InvalidArgumentError("certificate is too large");
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
    if (cert == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("certificate is not a PEM certificate: ",
                                                     ConsumeOpenSslErrors()));
    }
    return cert;
  }

  // The full check of Verifier::FromCertificate: the chain (strict, at
  // `now`), then identity, keyUsage and key type.
  absl::StatusOr<Checked> Check(const X509Ptr& cert, absl::Time now) const {
    X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store_.get(), cert.get(), nullptr) != 1) {
      return absl::InternalError(absl::StrCat(
          "OpenSSL failed setting up certificate verification: ", ConsumeOpenSslErrors()));
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(now));
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx.get()) != 1) {
      absl::Status error = ChainError(cert.get(), X509_STORE_CTX_get_current_cert(ctx.get()),
                                      X509_STORE_CTX_get_error(ctx.get()), now);
      ERR_clear_error();
      return error;
    }
    Checked checked;
    const STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* link = sk_X509_value(chain, i);
      if (X509_up_ref(link) != 1) {
        return absl::InternalError("OpenSSL failed to reference a certificate");
      }
      checked.path.emplace_back(link);
    }
    ASSIGN_OR_RETURN(checked.verifier, MakeVerifier(cert.get()));
    return checked;
  }

 private:
  explicit Store(X509StorePtr store) : store_(std::move(store)) {}

  // For a certificate that chained: its identity, keyUsage and key.
  static absl::StatusOr<std::unique_ptr<Verifier>> MakeVerifier(X509* cert) {
    ASSIGN_OR_RETURN(PeerIdentity identity, IdentityFromCertificate(*cert));
    // X509_get_key_usage reports "all usages" when the extension is absent.
    if ((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("certificate of ", identity.name, " may not sign (no digitalSignature)"));
    }
    EvpPkeyPtr key(X509_get_pubkey(cert));
    if (key == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate public key does not parse: ", ConsumeOpenSslErrors()));
    }
    if (!IsP256Key(key.get())) {
      return absl::PermissionDeniedError("certificate key is not an ECDSA P-256 key");
    }
    return std::unique_ptr<Verifier>(
        new Verifier(std::make_unique<Verifier::Impl>(std::move(key)), std::move(identity)));
  }

  X509StorePtr store_;
};

absl::StatusOr<std::unique_ptr<Verifier>> Verifier::FromCertificate(absl::string_view cert_pem,
                                                                    absl::string_view ca_pem,
                                                                    absl::Time now) {
  // The certificate is parsed (and a garbage one refused) before the CA, as
  // VerifyCertificateChain does.
  ASSIGN_OR_RETURN(X509Ptr cert, CertificateVerifier::Store::ParseLeaf(cert_pem));
  ASSIGN_OR_RETURN(std::unique_ptr<CertificateVerifier::Store> store,
                   CertificateVerifier::Store::New(ca_pem));
  ASSIGN_OR_RETURN(CertificateVerifier::Store::Checked checked, store->Check(cert, now));
  return std::move(checked.verifier);
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

struct CertificateVerifier::Entry {
  std::shared_ptr<const Verifier> verifier;
  std::vector<X509Ptr> path;  // the verified path, leaf first, CA last
};

absl::StatusOr<std::shared_ptr<CertificateVerifier>> CertificateVerifier::New(
    absl::string_view ca_pem) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::New(ca_pem));
  return std::shared_ptr<CertificateVerifier>(new CertificateVerifier(std::move(store)));
}

CertificateVerifier::CertificateVerifier(std::unique_ptr<Store> store)
    : store_(std::move(store)) {}

CertificateVerifier::~CertificateVerifier() = default;

absl::StatusOr<std::shared_ptr<const Verifier>> CertificateVerifier::VerifierFor(
    absl::string_view cert_pem, absl::Time now) {
  std::shared_ptr<const Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(cert_pem);
    if (it != cache_.end()) entry = it->second;
  }
  if (entry != nullptr) {
    // Everything but validity was settled when the entry was made. The CA
    // end first, as X509_verify_cert checks the path, so a failure names the
    // same certificate.
    const time_t t = absl::ToTimeT(now);
    for (auto link = entry->path.rbegin(); link != entry->path.rend(); ++link) {
      if (const int error = CheckValidityAt(link->get(), t); error != X509_V_OK) {
        ERR_clear_error();
        return ChainError(entry->path.front().get(), link->get(), error, now);
      }
    }
    return entry->verifier;
  }

  ASSIGN_OR_RETURN(X509Ptr cert, Store::ParseLeaf(cert_pem));
  ASSIGN_OR_RETURN(Store::Checked checked, store_->Check(cert, now));
  auto made = std::make_shared<Entry>();
  made->verifier = std::move(checked.verifier);
  made->path = std::move(checked.path);
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxCached) cache_.clear();
  // Two threads may have checked the same certificate; either entry will do.
  auto [it, inserted] = cache_.emplace(std::string(cert_pem), std::move(made));
  return it->second->verifier;
}

size_t CertificateVerifier::cached() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

}  // namespace cohort::crypto
