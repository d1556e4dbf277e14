#include "crypto/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace cohort::crypto {
namespace {

// See the failure policy in sha256.h.
[[noreturn]] void DieBecauseSha256Failed(const char* step) {
  std::fprintf(stderr, "cohort_crypto: SHA-256 %s failed: %s\n", step,
               ConsumeOpenSslErrors().c_str());
  std::abort();
}

std::string ToHex(const std::array<uint8_t, kSha256DigestSize>& digest) {
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

}  // namespace

std::array<uint8_t, kSha256DigestSize> Sha256(absl::string_view data) {
  std::array<uint8_t, kSha256DigestSize> digest;
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(),
                 nullptr) != 1 ||
      len != kSha256DigestSize) {
    DieBecauseSha256Failed("digest");
  }
  return digest;
}

std::string Sha256Hex(absl::string_view data) { return ToHex(Sha256(data)); }

Sha256Hasher::Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) DieBecauseSha256Failed("context allocation");
  Reset();
}

void Sha256Hasher::Reset() {
  if (EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) {
    DieBecauseSha256Failed("init");
  }
}

void Sha256Hasher::Update(absl::string_view data) {
  if (EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
    DieBecauseSha256Failed("update");
  }
}

std::array<uint8_t, kSha256DigestSize> Sha256Hasher::Final() {
  std::array<uint8_t, kSha256DigestSize> digest;
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), digest.data(), &len) != 1 ||
      len != kSha256DigestSize) {
    DieBecauseSha256Failed("final");
  }
  Reset();
  return digest;
}

std::string Sha256Hasher::FinalHex() { return ToHex(Final()); }

absl::StatusOr<std::string> Sha256HexOfFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot open for hashing"));
  }
  Sha256Hasher hasher;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      return absl::ErrnoToStatus(saved, absl::StrCat(path, ": read failed"));
    }
    if (n == 0) break;
    hasher.Update(absl::string_view(buf, static_cast<size_t>(n)));
  }
  ::close(fd);
  return hasher.FinalHex();
}

}  // namespace cohort::crypto
