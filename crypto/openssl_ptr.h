// RAII holders for the OpenSSL objects cohort_crypto uses, and a helper that
// turns OpenSSL's thread-local error queue into text for a Status message.
//
// Ownership: each alias owns exactly one reference to its object and frees it
// with the matching OpenSSL *_free function. Functions that take ownership
// (`X509_set_pubkey`-style "set1" calls copy; "set0"/"push" calls take) are
// handled at the call site with `.release()` only after success.
//
// Thread-safety: the holders are as thread-safe as the objects they hold
// (i.e. not shared across threads without synchronisation). The error helper
// reads the calling thread's OpenSSL error queue only.
#ifndef COHORT_CRYPTO_OPENSSL_PTR_H_
#define COHORT_CRYPTO_OPENSSL_PTR_H_

#include <memory>
#include <string>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/string_view.h"

namespace cohort::crypto {

// Calls the OpenSSL free function `Free` on a non-null pointer.
template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* ptr) const {
    Free(ptr);
  }
};

using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OpenSslDeleter<ASN1_INTEGER_free>>;
using Asn1OctetStringPtr =
    std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, OpenSslDeleter<ASN1_STRING_free>>;
using BigNumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free_all>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using X509ExtensionPtr =
    std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OpenSslDeleter<X509_NAME_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpenSslDeleter<X509_STORE_CTX_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, OpenSslDeleter<X509_STORE_free>>;

// Drains the calling thread's OpenSSL error queue and returns its entries
// joined by "; ", or "no OpenSSL error detail" when the queue was empty.
std::string ConsumeOpenSslErrors();

// A read-only memory BIO over `data`; `data` must outlive the BIO.
// Returns nullptr if `data` is larger than INT_MAX or allocation fails.
BioPtr NewReadOnlyMemBio(absl::string_view data);

// Returns the contents written so far to a memory BIO.
std::string MemBioContents(BIO* bio);

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_OPENSSL_PTR_H_
