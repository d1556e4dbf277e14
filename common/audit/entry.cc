#include "common/audit/entry.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"

namespace cohort::audit {
namespace {

using Json = nlohmann::json;

// The keys of an entry, in canonical (sorted) order.
constexpr const char* kKeys[] = {"body", "prev", "seq", "signature", "signer", "time", "type"};

constexpr size_t kMaxTypeLength = 64;

// Never prompt for a passphrase (as crypto/pki.cc).
int RefusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

// Whether `s` is valid UTF-8, by nlohmann's own decoder (the one dump() uses
// with error_handler_t::strict), without exceptions: replacing invalid bytes
// and ignoring them give the same text only when there are none.
bool IsValidUtf8(const std::string& s) {
  const Json j = s;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) ==
         j.dump(-1, ' ', false, Json::error_handler_t::ignore);
}

absl::Status CheckString(const std::string& s, absl::string_view where) {
  if (!IsValidUtf8(s)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"", absl::CHexEscape(s), "\" is not valid UTF-8"));
  }
  if (s.find('\x7f') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"", absl::CHexEscape(s),
                     "\" contains U+007F DELETE, which entries may not hold"));
  }
  return absl::OkStatus();
}

bool IsLowerHexHash(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status CheckPrev(absl::string_view prev) {
  if (!IsLowerHexHash(prev)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"prev\" \"", absl::CHexEscape(prev), "\" is not 64 lower-case hex digits"));
  }
  return absl::OkStatus();
}

absl::Status CheckSeq(int64_t seq) {
  if (seq < 1 || seq > kMaxSafeInteger) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"seq\" ", seq, " is not in [1, ", kMaxSafeInteger, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatEntryTime(absl::Time t) {
  const absl::Time millis = absl::FromUnixMillis(absl::ToUnixMillis(t));
  return absl::FormatTime(std::string(kTimeFormat), millis, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseEntryTime(absl::string_view text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text, absl::UTCTimeZone(), &t, &error) ||
      FormatEntryTime(t) != text) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"time\" \"", absl::CHexEscape(text),
                     "\" is not an RFC 3339 UTC time like 2024-05-01T12:00:00.764Z"));
  }
  return t;
}

absl::Status CheckValue(const Json& value, absl::string_view where) {
  switch (value.type()) {
    case Json::value_t::null:
    case Json::value_t::boolean:
      return absl::OkStatus();
    case Json::value_t::string:
      return CheckString(value.get_ref<const std::string&>(), where);
    case Json::value_t::number_integer: {
      const int64_t v = value.get<int64_t>();
      if (v < -kMaxSafeInteger || v > kMaxSafeInteger) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": ", v, " is outside [-(2^53 - 1), 2^53 - 1] (write it as a string)"));
      }
      return absl::OkStatus();
    }
    case Json::value_t::number_unsigned: {
      const uint64_t v = value.get<uint64_t>();
      if (v > static_cast<uint64_t>(kMaxSafeInteger)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": ", v, " is outside [-(2^53 - 1), 2^53 - 1] (write it as a string)"));
      }
      return absl::OkStatus();
    }
    case Json::value_t::number_float:
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", value.get<double>(),
          " is a floating-point number; entries hold only integers (write fractions as "
          "strings)"));
    case Json::value_t::array:
      for (size_t i = 0; i < value.size(); ++i) {
        RETURN_IF_ERROR(CheckValue(value[i], absl::StrCat(where, "[", i, "]")));
      }
      return absl::OkStatus();
    case Json::value_t::object:
      for (const auto& [key, element] : value.items()) {
        RETURN_IF_ERROR(CheckString(key, absl::StrCat(where, " key")));
        RETURN_IF_ERROR(CheckValue(element, absl::StrCat(where, ".", key)));
      }
      return absl::OkStatus();
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON value"));
}

absl::Status CheckType(absl::string_view type) {
  bool ok = !type.empty() && type.size() <= kMaxTypeLength;
  for (char c : type) {
    ok = ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
                c == ':' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("entry type \"", absl::CHexEscape(type),
                                                   "\" is not 1 to ", kMaxTypeLength,
                                                   " characters of [A-Za-z0-9_.:-]"));
  }
  return absl::OkStatus();
}

std::string CanonicalBytes(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::strict);
}

namespace {

// The entry as a JSON object, without "signature".
Json UnsignedObject(const Entry& entry) {
  Json object = Json::object();
  object["seq"] = entry.seq;
  object["time"] = entry.time;
  object["prev"] = entry.prev;
  object["type"] = entry.type;
  object["body"] = entry.body;
  object["signer"] = entry.signer_pem;
  return object;
}

}  // namespace

std::string SignedBytes(const Entry& entry) { return CanonicalBytes(UnsignedObject(entry)); }

absl::StatusOr<Entry> SignEntry(int64_t seq, absl::string_view time, absl::string_view prev,
                                absl::string_view type, Json body, const crypto::Signer& signer,
                                absl::string_view cert_pem) {
  RETURN_IF_ERROR(CheckSeq(seq));
  RETURN_IF_ERROR(ParseEntryTime(time).status());
  RETURN_IF_ERROR(CheckPrev(prev));
  RETURN_IF_ERROR(CheckType(type));
  if (!body.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("the body of a ", type, " entry is a JSON ",
                                                   body.type_name(), ", not an object"));
  }
  RETURN_IF_ERROR(CheckValue(body, "body"));
  RETURN_IF_ERROR(CheckString(std::string(cert_pem), "signer certificate"));

  Entry entry;
  entry.seq = seq;
  entry.time = std::string(time);
  entry.prev = std::string(prev);
  entry.type = std::string(type);
  entry.body = std::move(body);
  entry.signer_pem = std::string(cert_pem);
  Json object = UnsignedObject(entry);
  ASSIGN_OR_RETURN(std::string signature, signer.Sign(CanonicalBytes(object)));
  entry.signature_b64 = Base64Encode(signature);
  object["signature"] = entry.signature_b64;
  entry.line = CanonicalBytes(object);
  entry.hash = crypto::Sha256Hex(entry.line);
  return entry;
}

absl::StatusOr<Entry> ParseEntry(absl::string_view line) {
  const Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("a JSON ", j.type_name(), ", not an object"));
  }
  std::vector<std::string> missing, extra;
  for (const char* key : kKeys) {
    if (!j.contains(key)) missing.push_back(absl::StrCat("\"", key, "\""));
  }
  for (const auto& [key, value] : j.items()) {
    if (std::find_if(std::begin(kKeys), std::end(kKeys),
                     [&key = key](const char* k) { return key == k; }) == std::end(kKeys)) {
      extra.push_back(absl::StrCat("\"", absl::CHexEscape(key), "\""));
    }
  }
  if (!missing.empty() || !extra.empty()) {
    std::string what;
    if (!missing.empty()) what = absl::StrCat("missing ", absl::StrJoin(missing, ", "));
    if (!extra.empty()) {
      absl::StrAppend(&what, what.empty() ? "" : "; ", "unexpected ", absl::StrJoin(extra, ", "));
    }
    return absl::InvalidArgumentError(absl::StrCat("not an audit entry: ", what));
  }
  RETURN_IF_ERROR(CheckValue(j, "entry"));

  Entry entry;
  const Json& seq = j["seq"];
  if (!seq.is_number_integer()) return absl::InvalidArgumentError("\"seq\" is not an integer");
  entry.seq = seq.get<int64_t>();
  RETURN_IF_ERROR(CheckSeq(entry.seq));
  for (const char* key : {"time", "prev", "type", "signer", "signature"}) {
    if (!j[key].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" is not a string"));
    }
  }
  entry.time = j["time"].get<std::string>();
  RETURN_IF_ERROR(ParseEntryTime(entry.time).status());
  entry.prev = j["prev"].get<std::string>();
  RETURN_IF_ERROR(CheckPrev(entry.prev));
  entry.type = j["type"].get<std::string>();
  RETURN_IF_ERROR(CheckType(entry.type));
  if (!j["body"].is_object()) return absl::InvalidArgumentError("\"body\" is not an object");
  entry.body = j["body"];
  entry.signer_pem = j["signer"].get<std::string>();
  entry.signature_b64 = j["signature"].get<std::string>();
  RETURN_IF_ERROR(Base64Decode(entry.signature_b64).status());
  entry.line = std::string(line);
  if (CanonicalBytes(j) != entry.line) {
    return absl::InvalidArgumentError(
        "not in canonical form (sorted keys, no whitespace, minimal escapes; see "
        "docs/audit-log.md)");
  }
  entry.hash = crypto::Sha256Hex(entry.line);
  return entry;
}

std::string Base64Encode(absl::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

absl::StatusOr<std::string> Base64Decode(absl::string_view text) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(text.substr(0, 120)), "\" is not canonical base64"));
  };
  if (text.size() % 4 != 0 || text.size() > (1u << 20)) return invalid();
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return invalid();
  // EVP_DecodeBlock counts the zero bytes that padding stands for.
  size_t padding = 0;
  if (absl::EndsWith(text, "==")) {
    padding = 2;
  } else if (absl::EndsWith(text, "=")) {
    padding = 1;
  }
  if (static_cast<size_t>(n) < padding) return invalid();
  out.resize(static_cast<size_t>(n) - padding);
  // One spelling per byte string: no whitespace, no stray bits after the data.
  if (Base64Encode(out) != text) return invalid();
  return out;
}

absl::Status VerifyWithCertificateKey(absl::string_view cert_pem, absl::string_view data,
                                      absl::string_view signature) {
  ERR_clear_error();
  crypto::BioPtr bio = crypto::NewReadOnlyMemBio(cert_pem);
  if (bio == nullptr) return absl::InvalidArgumentError("certificate is too large");
  crypto::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate is not a PEM certificate: ", crypto::ConsumeOpenSslErrors()));
  }
  EVP_PKEY* key = X509_get0_pubkey(cert.get());  // owned by `cert`
  char group[64] = {};
  size_t group_len = 0;
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len) != 1 ||
      std::strcmp(group, "prime256v1") != 0) {
    ERR_clear_error();
    return absl::InvalidArgumentError("certificate key is not an ECDSA P-256 key");
  }
  crypto::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    return absl::InternalError(
        absl::StrCat("ECDSA verification setup failed: ", crypto::ConsumeOpenSslErrors()));
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
    ERR_clear_error();
    return absl::PermissionDeniedError("signature does not verify");
  }
  return absl::OkStatus();
}

std::string IdentityString(const crypto::PeerIdentity& identity) {
  return absl::StrCat(crypto::RoleName(identity.role), " ", identity.name);
}

std::string RotatedFilePath(const std::string& path, int64_t index) {
  const std::filesystem::path p(path);
  const std::string name = absl::StrFormat("%s.%06d.jsonl", p.stem().string(), index);
  return (p.parent_path() / name).string();
}

int64_t RotatedFileIndex(const std::string& path, absl::string_view name) {
  const std::string file = std::filesystem::path(std::string(name)).filename().string();
  const std::string prefix = std::filesystem::path(path).stem().string() + ".";
  constexpr absl::string_view kSuffix = ".jsonl";
  if (file.size() < prefix.size() + 6 + kSuffix.size() || !absl::StartsWith(file, prefix) ||
      !absl::EndsWith(file, kSuffix)) {
    return 0;
  }
  const absl::string_view digits =
      absl::string_view(file).substr(prefix.size(), file.size() - prefix.size() - kSuffix.size());
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
  }
  // Only the spelling RotatedFilePath uses: zero-padded to 6, no more.
  if (digits.size() > 6 && digits[0] == '0') return 0;
  int64_t index = 0;
  if (digits.size() > 18 || !absl::SimpleAtoi(digits, &index) || index < 1) return 0;
  return index;
}

absl::StatusOr<std::vector<RotatedFile>> ListRotatedFiles(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::filesystem::path dir = parent.empty() ? std::filesystem::path(".") : parent;
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  std::vector<RotatedFile> files;
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (const int64_t index = RotatedFileIndex(path, name); index > 0) {
      files.push_back({.index = index, .path = (parent / name).string()});
    }
  }
  if (error) {
    return absl::ErrnoToStatus(error.value(),
                               absl::StrCat(dir.string(), ": cannot list the folder of the log"));
  }
  std::sort(files.begin(), files.end(),
            [](const RotatedFile& a, const RotatedFile& b) { return a.index < b.index; });
  return files;
}

}  // namespace cohort::audit
