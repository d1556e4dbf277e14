#include "crypto/hkdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {
namespace {

using EvpKdfPtr = std::unique_ptr<EVP_KDF, OpenSslDeleter<EVP_KDF_free>>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX_free>>;

constexpr size_t kSha256Size = 32;
constexpr size_t kMaxOutput = 255 * kSha256Size;  // RFC 5869 section 2.3

// OSSL_PARAM_get_octet_string refuses a NULL data pointer even for a zero
// length, so empty inputs point at a static byte instead.
void* ParamData(const void* data, size_t size) {
  static const unsigned char kEmpty = 0;
  return const_cast<void*>(size == 0 ? static_cast<const void*>(&kEmpty) : data);
}

}  // namespace

absl::StatusOr<SecretData> HkdfSha256(const SecretData& ikm, absl::string_view salt,
                                      absl::string_view info, size_t length) {
  if (length == 0 || length > kMaxOutput) {
    return absl::InvalidArgumentError(
        absl::StrCat("HKDF-SHA256 output length must be in [1, ", kMaxOutput, "], got ", length));
  }
  EvpKdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr));
  if (kdf == nullptr) {
    return absl::InternalError(absl::StrCat("HKDF unavailable: ", ConsumeOpenSslErrors()));
  }
  EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) {
    return absl::InternalError(
        absl::StrCat("HKDF context allocation failed: ", ConsumeOpenSslErrors()));
  }
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ParamData(ikm.data(), ikm.size()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, ParamData(salt.data(), salt.size()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ParamData(info.data(), info.size()),
                                        info.size()),
      OSSL_PARAM_construct_end(),
  };
  SecretData out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return absl::InternalError(
        absl::StrCat("HKDF-SHA256 derivation failed: ", ConsumeOpenSslErrors()));
  }
  return out;
}

}  // namespace cohort::crypto
