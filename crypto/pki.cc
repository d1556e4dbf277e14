#include "crypto/pki.h"

#include <arpa/inet.h>

#include <climits>
#include <ctime>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/util/status_macros.h"
#include "crypto/openssl_ptr.h"

namespace cohort::crypto {
namespace {

constexpr absl::string_view kIdentityScheme = "cohort://";
constexpr absl::string_view kCaCommonName = "Cohort Root CA";
constexpr size_t kMaxEntityNameLength = 64;
// X.520 upper bound for organizationName.
constexpr size_t kMaxConsortiumNameLength = 64;
constexpr int kSerialBits = 128;
// Far beyond any sensible lifetime; keeps not_after inside what ASN1_TIME and
// time_t represent.
constexpr absl::Duration kMaxValidity = absl::Hours(24 * 365 * 100);

absl::Status OpenSslFailure(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("OpenSSL failed ", what, ": ", ConsumeOpenSslErrors()));
}

// Never prompt on the terminal for a passphrase: Cohort keys are unencrypted,
// and an encrypted one is an error, not a reason to block.
int RefusePassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return -1;
}

// For error messages: attacker-controlled text must not reach a terminal raw.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return "<unprintable name>";
  }
  return MemBioContents(bio.get());
}

std::string SubjectOf(const X509* cert) {
  return Quote(NameToString(X509_get_subject_name(cert)));
}

absl::StatusOr<X509Ptr> ParseCertificatePem(absl::string_view pem,
                                            absl::string_view what) {
  BioPtr bio = NewReadOnlyMemBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not a PEM certificate: ", ConsumeOpenSslErrors()));
  }
  return cert;
}

// Every certificate in `pem`, in order; at least one.
absl::StatusOr<std::vector<X509Ptr>> ParseAllCertificatesPem(absl::string_view pem,
                                                              absl::string_view what) {
  BioPtr bio = NewReadOnlyMemBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, RefusePassphrase, nullptr)) {
    certs.emplace_back(cert);
  }
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not a PEM certificate: ", ConsumeOpenSslErrors()));
  }
  ERR_clear_error();  // The loop ends on a "no start line" error.
  return certs;
}

absl::StatusOr<EvpPkeyPtr> ParsePrivateKeyPem(absl::string_view pem, absl::string_view what) {
  BioPtr bio = NewReadOnlyMemBio(pem);
  if (bio == nullptr) return absl::InvalidArgumentError(absl::StrCat(what, " is too large"));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, RefusePassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is not an unencrypted PEM private key: ", ConsumeOpenSslErrors()));
  }
  return key;
}

absl::StatusOr<std::string> CertificateToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslFailure("encoding certificate as PEM");
  }
  return MemBioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  // Secure-heap BIO: the buffer holding the key is cleared when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0,
                                                 nullptr, nullptr) != 1) {
    return OpenSslFailure("encoding private key as PKCS#8 PEM");
  }
  return MemBioContents(bio.get());
}

absl::StatusOr<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) return OpenSslFailure("generating an ECDSA P-256 key");
  return key;
}

absl::Time TimeFromAsn1(const ASN1_TIME* time) {
  struct tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
    ERR_clear_error();
    return absl::InfinitePast();
  }
  return absl::FromTM(tm, absl::UTCTimeZone());
}

absl::Status ValidateValidity(absl::Duration validity) {
  if (validity <= absl::ZeroDuration() || validity > kMaxValidity) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate validity ", absl::FormatDuration(validity),
                     " must be positive and at most 100 years"));
  }
  return absl::OkStatus();
}

absl::Status ValidateConsortiumName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxConsortiumNameLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consortium name ", Quote(name), " must be 1 to ", kMaxConsortiumNameLength,
        " bytes"));
  }
  for (char c : name) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consortium name ", Quote(name), " contains a control character"));
    }
  }
  return absl::OkStatus();
}

// A DNS name as RFC 1123 allows in a certificate: dot-separated labels of
// letters, digits and inner hyphens.
bool IsDnsName(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

absl::Status AddNameEntry(X509_NAME* name, int nid, absl::string_view value) {
  if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot put ", Quote(value), " in certificate field ", OBJ_nid2sn(nid), ": ",
        ConsumeOpenSslErrors()));
  }
  return absl::OkStatus();
}

// The first `nid` entry of `name` as UTF-8.
absl::StatusOr<std::string> NameEntry(const X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return absl::NotFoundError(absl::StrCat("no ", OBJ_nid2sn(nid)));
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return OpenSslFailure(absl::StrCat("decoding ", OBJ_nid2sn(nid)));
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// Adds an extension given in OpenSSL's config syntax. Only ever called with
// constant strings, never with caller data (SANs are built structurally).
absl::Status AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslFailure(absl::StrCat("adding ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

absl::Status SetRandomSerial(X509* cert) {
  BigNumPtr serial(BN_new());
  if (serial == nullptr) return OpenSslFailure("allocating a serial number");
  do {
    if (BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) {
      return OpenSslFailure("drawing a random serial number");
    }
  } while (BN_is_zero(serial.get()));
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslFailure("setting the serial number");
  }
  return absl::OkStatus();
}

absl::Status SetTime(ASN1_TIME* field, absl::Time time, absl::string_view what) {
  // ASN1_TIME_set picks UTCTime through 2049 and GeneralizedTime after, as
  // RFC 5280 section 4.1.2.5 requires.
  if (ASN1_TIME_set(field, absl::ToTimeT(time)) == nullptr) {
    return OpenSslFailure(absl::StrCat("setting ", what, " to ", absl::FormatTime(time)));
  }
  return absl::OkStatus();
}

// A v3 certificate with a fresh serial, the given names, validity and key,
// and no extensions yet.
absl::StatusOr<X509Ptr> NewCertificate(EVP_PKEY* subject_key, const X509_NAME* subject,
                                       const X509_NAME* issuer, absl::Time not_before,
                                       absl::Duration validity) {
  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslFailure("allocating a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_subject_name(cert.get(), subject) != 1 ||
      X509_set_issuer_name(cert.get(), issuer) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslFailure("filling in the certificate");
  }
  RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  RETURN_IF_ERROR(SetTime(X509_getm_notBefore(cert.get()), not_before, "notBefore"));
  RETURN_IF_ERROR(
      SetTime(X509_getm_notAfter(cert.get()), not_before + validity, "notAfter"));
  return cert;
}

absl::Status PushGeneralName(GENERAL_NAMES* names, int type, Asn1StringPtr value) {
  GeneralNamePtr name(GENERAL_NAME_new());
  if (name == nullptr) return OpenSslFailure("allocating a subjectAltName entry");
  GENERAL_NAME_set0_value(name.get(), type, value.release());
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
    return OpenSslFailure("appending a subjectAltName entry");
  }
  name.release();  // Now owned by `names`.
  return absl::OkStatus();
}

absl::Status PushIa5Name(GENERAL_NAMES* names, int type, absl::string_view text) {
  Asn1StringPtr value(ASN1_IA5STRING_new());
  if (value == nullptr ||
      ASN1_STRING_set(value.get(), text.data(), static_cast<int>(text.size())) != 1) {
    return OpenSslFailure("building a subjectAltName entry");
  }
  return PushGeneralName(names, type, std::move(value));
}

// subjectAltName for a leaf: the identity URI, then one IP or DNS entry per
// distinct hostname. Validates the hostnames, so call it before doing work.
absl::StatusOr<GeneralNamesPtr> BuildSubjectAltNames(
    Role role, absl::string_view name, const std::vector<std::string>& hostnames) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslFailure("allocating subjectAltName");
  RETURN_IF_ERROR(PushIa5Name(names.get(), GEN_URI,
                              absl::StrCat(kIdentityScheme, RoleName(role), "/", name)));
  std::set<std::string> seen;
  for (const std::string& host : hostnames) {
    if (!seen.insert(absl::AsciiStrToLower(host)).second) continue;
    if (Asn1StringPtr ip(a2i_IPADDRESS(host.c_str())); ip != nullptr) {
      RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_IPADD, std::move(ip)));
      continue;
    }
    ERR_clear_error();
    if (!IsDnsName(host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hostname ", Quote(host),
          " is neither an IP address nor a DNS name (letters, digits, '-', '.')"));
    }
    RETURN_IF_ERROR(PushIa5Name(names.get(), GEN_DNS, host));
  }
  return names;
}

std::string FormatIp(const ASN1_OCTET_STRING* ip) {
  const int len = ASN1_STRING_length(ip);
  const unsigned char* bytes = ASN1_STRING_get0_data(ip);
  char text[INET6_ADDRSTRLEN] = {};
  if ((len == 4 && inet_ntop(AF_INET, bytes, text, sizeof(text)) != nullptr) ||
      (len == 16 && inet_ntop(AF_INET6, bytes, text, sizeof(text)) != nullptr)) {
    return text;
  }
  return absl::StrCat("<invalid ", len, "-byte address>");
}

std::string Ia5ToString(const ASN1_IA5STRING* text) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<size_t>(ASN1_STRING_length(text)));
}

// The subjectAltName extension, or nullptr if absent. An extension that is
// present twice or does not decode is an error.
absl::StatusOr<GeneralNamesPtr> GetSubjectAltNames(const X509* cert) {
  int critical = 0;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, nullptr)));
  if (names != nullptr || critical == -1) {
    ERR_clear_error();
    return names;
  }
  ERR_clear_error();
  return absl::InvalidArgumentError(
      critical == -2 ? "certificate has more than one subjectAltName extension"
                     : "certificate subjectAltName extension is malformed");
}

absl::StatusOr<PeerIdentity> ParseIdentityUri(absl::string_view uri,
                                              absl::string_view subject) {
  absl::string_view rest = uri.substr(kIdentityScheme.size());
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() != 2) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", subject, " has malformed identity URI ", Quote(uri),
        ": expected cohort://<role>/<name>"));
  }
  absl::StatusOr<Role> role = ParseRole(parts[0]);
  if (!role.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", subject, " has malformed identity URI ", Quote(uri),
        ": unknown role ", Quote(parts[0])));
  }
  if (absl::Status s = ValidateEntityName(parts[1]); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", subject, " has malformed identity URI ", Quote(uri), ": ",
        s.message()));
  }
  return PeerIdentity{*role, std::string(parts[1])};
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kSite:
      return "site";
    case Role::kCoordinator:
      return "coordinator";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kSite, Role::kCoordinator, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown role ", Quote(name), "; expected site, coordinator or admin"));
}

absl::Status ValidateEntityName(absl::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxEntityNameLength;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid name ", Quote(name), ": must be 1 to ", kMaxEntityNameLength,
        " characters of lowercase letters, digits, '.', '_' and '-'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Credential> CreateCertificateAuthority(absl::string_view consortium_name,
                                                      absl::Time not_before,
                                                      absl::Duration validity) {
  RETURN_IF_ERROR(ValidateConsortiumName(consortium_name));
  RETURN_IF_ERROR(ValidateValidity(validity));
  ERR_clear_error();

  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
  X509NamePtr subject(X509_NAME_new());
  if (subject == nullptr) return OpenSslFailure("allocating a name");
  RETURN_IF_ERROR(AddNameEntry(subject.get(), NID_organizationName, consortium_name));
  RETURN_IF_ERROR(AddNameEntry(subject.get(), NID_commonName, kCaCommonName));
  ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(key.get(), subject.get(), subject.get(),
                                                not_before, validity));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  // pathlen:0 because Cohort has no intermediate CAs: the root signs leaves
  // only, so a leaf that claimed CA powers could not extend the chain.
  RETURN_IF_ERROR(AddConfExtension(cert.get(), &ctx, NID_basic_constraints,
                                   "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(
      AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddConfExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(
      AddConfExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("self-signing the CA certificate");
  }

  Credential credential;
  ASSIGN_OR_RETURN(credential.cert_pem, CertificateToPem(cert.get()));
  ASSIGN_OR_RETURN(credential.key_pem, PrivateKeyToPem(key.get()));
  return credential;
}

absl::StatusOr<Credential> IssueCertificate(const Credential& ca, Role role,
                                            absl::string_view name,
                                            const std::vector<std::string>& hostnames,
                                            absl::Time not_before,
                                            absl::Duration validity) {
  RETURN_IF_ERROR(ValidateEntityName(name));
  RETURN_IF_ERROR(ValidateValidity(validity));
  ERR_clear_error();

  ASSIGN_OR_RETURN(X509Ptr ca_cert, ParseCertificatePem(ca.cert_pem, "CA certificate"));
  ASSIGN_OR_RETURN(EvpPkeyPtr ca_key, ParsePrivateKeyPem(ca.key_pem, "CA private key"));
  if ((X509_get_extension_flags(ca_cert.get()) & EXFLAG_CA) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate ", SubjectOf(ca_cert.get()), " is not a CA (basicConstraints)"));
  }
  if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "CA private key does not match CA certificate ", SubjectOf(ca_cert.get())));
  }
  const X509_NAME* ca_subject = X509_get_subject_name(ca_cert.get());
  absl::StatusOr<std::string> consortium = NameEntry(ca_subject, NID_organizationName);
  if (!consortium.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA certificate ", SubjectOf(ca_cert.get()),
        " has no organizationName (O) naming the consortium"));
  }
  ASSIGN_OR_RETURN(GeneralNamesPtr alt_names, BuildSubjectAltNames(role, name, hostnames));

  ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
  X509NamePtr subject(X509_NAME_new());
  if (subject == nullptr) return OpenSslFailure("allocating a name");
  RETURN_IF_ERROR(AddNameEntry(subject.get(), NID_organizationName, *consortium));
  RETURN_IF_ERROR(AddNameEntry(subject.get(), NID_organizationalUnitName, RoleName(role)));
  RETURN_IF_ERROR(AddNameEntry(subject.get(), NID_commonName, name));
  ASSIGN_OR_RETURN(X509Ptr cert, NewCertificate(key.get(), subject.get(), ca_subject,
                                                not_before, validity));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca_cert.get(), cert.get(), nullptr, nullptr, 0);
  RETURN_IF_ERROR(
      AddConfExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(
      AddConfExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
  RETURN_IF_ERROR(AddConfExtension(
      cert.get(), &ctx, NID_ext_key_usage,
      role == Role::kCoordinator ? "serverAuth,clientAuth" : "clientAuth"));
  RETURN_IF_ERROR(AddConfExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(
      AddConfExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, alt_names.get(), 0,
                        X509V3_ADD_APPEND) != 1) {
    return OpenSslFailure("adding subjectAltName");
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) <= 0) {
    return OpenSslFailure("signing the certificate with the CA key");
  }

  Credential credential;
  ASSIGN_OR_RETURN(credential.cert_pem, CertificateToPem(cert.get()));
  ASSIGN_OR_RETURN(credential.key_pem, PrivateKeyToPem(key.get()));
  return credential;
}

absl::StatusOr<PeerIdentity> IdentityFromCertificatePem(absl::string_view cert_pem) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem, "certificate"));
  return IdentityFromCertificate(*cert);
}

absl::StatusOr<PeerIdentity> IdentityFromCertificate(const X509& x509) {
  const X509* cert = &x509;
  const std::string subject = SubjectOf(cert);
  absl::StatusOr<GeneralNamesPtr> names = GetSubjectAltNames(cert);
  if (!names.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", subject, " has no usable cohort:// identity: ",
        names.status().message()));
  }
  std::vector<std::string> identity_uris;
  for (int i = 0; *names != nullptr && i < sk_GENERAL_NAME_num(names->get()); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names->get(), i);
    if (entry->type != GEN_URI) continue;
    std::string uri = Ia5ToString(entry->d.uniformResourceIdentifier);
    if (absl::StartsWith(uri, kIdentityScheme)) identity_uris.push_back(std::move(uri));
  }
  if (identity_uris.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", subject,
        " has no cohort:// URI subjectAltName, so it names no Cohort identity"));
  }
  if (identity_uris.size() > 1) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate ", subject, " has ", identity_uris.size(),
        " cohort:// URI subjectAltNames; exactly one is allowed"));
  }
  return ParseIdentityUri(identity_uris.front(), subject);
}

absl::Status VerifyCertificateChain(absl::string_view cert_pem, absl::string_view ca_pem,
                                    absl::Time now) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem, "certificate"));
  ASSIGN_OR_RETURN(std::vector<X509Ptr> cas, ParseAllCertificatesPem(ca_pem, "CA certificate"));

  X509StorePtr store(X509_STORE_new());
  if (store == nullptr) return OpenSslFailure("allocating a certificate store");
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      return OpenSslFailure("adding a CA certificate to the store");
    }
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return OpenSslFailure("setting up certificate verification");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(now));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);

  if (X509_verify_cert(ctx.get()) == 1) return absl::OkStatus();

  const int error = X509_STORE_CTX_get_error(ctx.get());
  std::string message =
      absl::StrCat("certificate ", SubjectOf(cert.get()), " failed verification: ",
                   X509_verify_cert_error_string(error));
  const X509* failing = X509_STORE_CTX_get_current_cert(ctx.get());
  if (failing != nullptr && X509_cmp(failing, cert.get()) != 0) {
    absl::StrAppend(&message, " (at issuer ", SubjectOf(failing), ")");
  }
  absl::StrAppend(&message, " [checked at ", absl::FormatTime(now, absl::UTCTimeZone()),
                  "]");
  ERR_clear_error();
  return absl::PermissionDeniedError(message);
}

absl::StatusOr<absl::Time> CertificateNotAfter(absl::string_view cert_pem) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem, "certificate"));
  return TimeFromAsn1(X509_get0_notAfter(cert.get()));
}

absl::StatusOr<CertificateInfo> DescribeCertificate(absl::string_view cert_pem) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertificatePem(cert_pem, "certificate"));
  CertificateInfo info;
  info.subject = NameToString(X509_get_subject_name(cert.get()));
  info.issuer = NameToString(X509_get_issuer_name(cert.get()));
  info.not_before = TimeFromAsn1(X509_get0_notBefore(cert.get()));
  info.not_after = TimeFromAsn1(X509_get0_notAfter(cert.get()));
  info.is_ca = (X509_get_extension_flags(cert.get()) & EXFLAG_CA) != 0;

  BigNumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial == nullptr) return OpenSslFailure("reading the serial number");
  char* serial_hex = BN_bn2hex(serial.get());
  if (serial_hex == nullptr) return OpenSslFailure("formatting the serial number");
  info.serial_hex = absl::AsciiStrToLower(serial_hex);
  OPENSSL_free(serial_hex);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_len) != 1) {
    return OpenSslFailure("fingerprinting the certificate");
  }
  info.sha256_fingerprint_hex = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), digest_len));

  absl::StatusOr<GeneralNamesPtr> names = GetSubjectAltNames(cert.get());
  if (!names.ok()) return names.status();
  for (int i = 0; *names != nullptr && i < sk_GENERAL_NAME_num(names->get()); ++i) {
    const GENERAL_NAME* entry = sk_GENERAL_NAME_value(names->get(), i);
    switch (entry->type) {
      case GEN_URI:
        info.subject_alt_names.push_back(
            absl::StrCat("URI:", Ia5ToString(entry->d.uniformResourceIdentifier)));
        break;
      case GEN_DNS:
        info.subject_alt_names.push_back(absl::StrCat("DNS:", Ia5ToString(entry->d.dNSName)));
        break;
      case GEN_IPADD:
        info.subject_alt_names.push_back(absl::StrCat("IP:", FormatIp(entry->d.iPAddress)));
        break;
      case GEN_EMAIL:
        info.subject_alt_names.push_back(absl::StrCat("email:", Ia5ToString(entry->d.rfc822Name)));
        break;
      default:
        info.subject_alt_names.push_back(absl::StrCat("other:type", entry->type));
        break;
    }
  }
  return info;
}

}  // namespace cohort::crypto
