#include "crypto/openssl_ptr.h"

#include <climits>
#include <string>

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace cohort::crypto {

std::string ConsumeOpenSslErrors() {
  std::string out;
  unsigned long code;  // NOLINT(runtime/int): OpenSSL's type.
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  if (out.empty()) out = "no OpenSSL error detail";
  return out;
}

BioPtr NewReadOnlyMemBio(absl::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string MemBioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int)
  if (len <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace cohort::crypto
