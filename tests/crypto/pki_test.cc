#include "crypto/pki.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "crypto/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// All validity checks use this injected instant, never the wall clock.
const absl::Time kNow = absl::FromCivil(absl::CivilSecond(2030, 6, 1, 12, 0, 0),
                                        absl::UTCTimeZone());
constexpr absl::Duration kDay = absl::Hours(24);

// --- Independent OpenSSL views of a certificate, so the tests do not trust
// --- the code under test to read back what it wrote.

X509Ptr ParsePem(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string NameField(X509* cert, int nid) {
  char buf[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), nid, buf, sizeof(buf)) < 0) {
    return "<absent>";
  }
  return buf;
}

struct SanEntries {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
  std::vector<std::string> ip_bytes;  // raw 4- or 16-byte addresses
};

SanEntries ReadSans(X509* cert) {
  SanEntries out;
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    const ASN1_STRING* value = nullptr;
    std::vector<std::string>* sink = nullptr;
    if (name->type == GEN_URI) value = name->d.uniformResourceIdentifier, sink = &out.uris;
    if (name->type == GEN_DNS) value = name->d.dNSName, sink = &out.dns;
    if (name->type == GEN_IPADD) value = name->d.iPAddress, sink = &out.ip_bytes;
    if (sink == nullptr) continue;
    sink->emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                       ASN1_STRING_length(value));
  }
  return out;
}

std::string Der(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

std::string DerToPem(const std::string& der) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio(bio.get(), "CERTIFICATE", "",
                reinterpret_cast<const unsigned char*>(der.data()),
                static_cast<long>(der.size()));  // NOLINT(runtime/int)
  return MemBioContents(bio.get());
}

// A self-signed certificate with one subjectAltName extension per entry of
// `sans` (OpenSSL config syntax, e.g. "URI:cohort://janitor/bob"), for
// identity-parsing edge cases the issuing code refuses to produce.
std::string SelfSignedWithSans(const std::vector<std::string>& sans) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_NAME_add_entry_by_NID(X509_get_subject_name(cert.get()), NID_commonName,
                             MBSTRING_ASC, reinterpret_cast<const unsigned char*>("odd"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  for (const std::string& san : sans) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509ExtensionPtr ext(
        X509V3_EXT_nconf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str()));
    X509_add_ext(cert.get(), ext.get(), -1);
  }
  X509_sign(cert.get(), key.get(), EVP_sha256());
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert.get());
  return MemBioContents(bio.get());
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Credential> ca =
        CreateCertificateAuthority("heart-consortium", kNow - kDay, 3650 * kDay);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *std::move(ca);
  }

  Credential Issue(Role role, const std::string& name,
                   const std::vector<std::string>& hostnames = {},
                   absl::Time not_before = kNow - absl::Hours(1),
                   absl::Duration validity = 30 * kDay) {
    absl::StatusOr<Credential> cred =
        IssueCertificate(ca_, role, name, hostnames, not_before, validity);
    EXPECT_TRUE(cred.ok()) << cred.status();
    return cred.ok() ? *std::move(cred) : Credential{};
  }

  Credential ca_;
};

TEST_F(PkiTest, CaIsSelfSignedP256CaWithConsortiumName) {
  X509Ptr ca = ParsePem(ca_.cert_pem);
  ASSERT_NE(ca, nullptr);
  EXPECT_GE(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(X509_get_extension_flags(ca.get()) & EXFLAG_CA);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_CRL_SIGN);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_EQ(X509_get_signature_nid(ca.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(NameField(ca.get(), NID_organizationName), "heart-consortium");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_get_issuer_name(ca.get())),
            0);
  char group[64] = {};
  EXPECT_EQ(EVP_PKEY_get_group_name(X509_get0_pubkey(ca.get()), group, sizeof(group), nullptr),
            1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_TRUE(VerifyCertificateChain(ca_.cert_pem, ca_.cert_pem, kNow).ok());
}

TEST_F(PkiTest, SerialsAreRandomAndAtLeast64Bits) {
  X509Ptr a = ParsePem(Issue(Role::kSite, "a").cert_pem);
  X509Ptr b = ParsePem(Issue(Role::kSite, "a").cert_pem);
  BigNumPtr sa(ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.get()), nullptr));
  BigNumPtr sb(ASN1_INTEGER_to_BN(X509_get0_serialNumber(b.get()), nullptr));
  EXPECT_NE(BN_cmp(sa.get(), sb.get()), 0);
  EXPECT_GE(BN_num_bits(sa.get()), 64);
  EXPECT_LE(BN_num_bits(sa.get()), 128);
}

class PkiRoleTest : public PkiTest, public ::testing::WithParamInterface<Role> {};

TEST_P(PkiRoleTest, IssuedCertificateVerifiesAgainstItsCa) {
  Credential cred = Issue(GetParam(), "node-1");
  EXPECT_TRUE(VerifyCertificateChain(cred.cert_pem, ca_.cert_pem, kNow).ok());
}

TEST_P(PkiRoleTest, IdentityRoundTrips) {
  Credential cred = Issue(GetParam(), "st.olav_2");
  absl::StatusOr<PeerIdentity> id = IdentityFromCertificatePem(cred.cert_pem);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, (PeerIdentity{GetParam(), "st.olav_2"}));
}

TEST_P(PkiRoleTest, LeafProfileMatchesRole) {
  Credential cred = Issue(GetParam(), "node-1");
  X509Ptr cert = ParsePem(cred.cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(NameField(cert.get(), NID_commonName), "node-1");
  EXPECT_EQ(NameField(cert.get(), NID_organizationName), "heart-consortium");
  EXPECT_EQ(NameField(cert.get(), NID_organizationalUnitName), RoleName(GetParam()));
  EXPECT_THAT(ReadSans(cert.get()).uris,
              ElementsAre(absl::StrCat("cohort://", RoleName(GetParam()), "/node-1")));
  EXPECT_FALSE(X509_get_extension_flags(cert.get()) & EXFLAG_CA);
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);

  const uint32_t eku = X509_get_extended_key_usage(cert.get());
  EXPECT_TRUE(eku & XKU_SSL_CLIENT);
  EXPECT_EQ(static_cast<bool>(eku & XKU_SSL_SERVER), GetParam() == Role::kCoordinator);

  // The private key belongs to the certificate.
  BioPtr bio(BIO_new_mem_buf(cred.key_pem.data(), static_cast<int>(cred.key_pem.size())));
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

INSTANTIATE_TEST_SUITE_P(AllRoles, PkiRoleTest,
                         ::testing::Values(Role::kSite, Role::kCoordinator, Role::kAdmin),
                         [](const auto& info) { return std::string(RoleName(info.param)); });

TEST_F(PkiTest, CertificateFromAnotherCaFails) {
  absl::StatusOr<Credential> other =
      CreateCertificateAuthority("heart-consortium", kNow - kDay, 3650 * kDay);
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<Credential> foreign = IssueCertificate(
      *other, Role::kSite, "intruder", {}, kNow - absl::Hours(1), 30 * kDay);
  ASSERT_TRUE(foreign.ok()) << foreign.status();

  absl::Status status = VerifyCertificateChain(foreign->cert_pem, ca_.cert_pem, kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("unable to get local issuer certificate"));
  EXPECT_THAT(status.message(), HasSubstr("CN=intruder"));
}

TEST_F(PkiTest, ExpiredCertificateFails) {
  Credential old = Issue(Role::kSite, "hungary", {}, kNow - 10 * kDay, kDay);
  absl::Status status = VerifyCertificateChain(old.cert_pem, ca_.cert_pem, kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("certificate has expired"));
  EXPECT_THAT(status.message(), HasSubstr("CN=hungary"));
}

TEST_F(PkiTest, NotYetValidCertificateFails) {
  Credential future = Issue(Role::kSite, "hungary", {}, kNow + kDay, 30 * kDay);
  absl::Status status = VerifyCertificateChain(future.cert_pem, ca_.cert_pem, kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("certificate is not yet valid"));
}

TEST_F(PkiTest, VerificationUsesTheGivenTimeNotTheClock) {
  Credential cred = Issue(Role::kSite, "hungary", {}, kNow, 30 * kDay);
  EXPECT_TRUE(VerifyCertificateChain(cred.cert_pem, ca_.cert_pem, kNow + 29 * kDay).ok());
  EXPECT_THAT(VerifyCertificateChain(cred.cert_pem, ca_.cert_pem, kNow + 31 * kDay).message(),
              HasSubstr("expired"));
}

TEST_F(PkiTest, ExpiredCaFailsNamingTheCa) {
  absl::StatusOr<Credential> old_ca =
      CreateCertificateAuthority("heart-consortium", kNow - 10 * kDay, kDay);
  ASSERT_TRUE(old_ca.ok()) << old_ca.status();
  absl::StatusOr<Credential> leaf = IssueCertificate(*old_ca, Role::kSite, "hungary", {},
                                                     kNow - absl::Hours(1), 30 * kDay);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::Status status = VerifyCertificateChain(leaf->cert_pem, old_ca->cert_pem, kNow);
  EXPECT_THAT(status.message(), HasSubstr("certificate has expired"));
  EXPECT_THAT(status.message(), HasSubstr("Cohort Root CA"));
}

TEST_F(PkiTest, CertificateNotAfterIsNotBeforePlusValidity) {
  const absl::Time not_before = absl::FromUnixSeconds(absl::ToUnixSeconds(kNow));
  Credential cred = Issue(Role::kSite, "hungary", {}, not_before, 42 * kDay);
  absl::StatusOr<absl::Time> not_after = CertificateNotAfter(cred.cert_pem);
  ASSERT_TRUE(not_after.ok()) << not_after.status();
  EXPECT_EQ(*not_after, not_before + 42 * kDay);
}

TEST_F(PkiTest, CoordinatorSansContainDnsNamesAndIpAddresses) {
  Credential cred = Issue(Role::kCoordinator, "coord.example.org",
                          {"coord.example.org", "localhost", "127.0.0.1", "::1"});
  X509Ptr cert = ParsePem(cred.cert_pem);
  ASSERT_NE(cert, nullptr);
  SanEntries sans = ReadSans(cert.get());
  EXPECT_THAT(sans.uris, ElementsAre("cohort://coordinator/coord.example.org"));
  EXPECT_THAT(sans.dns, ElementsAre("coord.example.org", "localhost"));
  EXPECT_THAT(sans.ip_bytes, ElementsAre(std::string("\x7f\x00\x00\x01", 4),
                                         std::string(15, '\0') + "\x01"));
  // OpenSSL's own hostname/IP matching agrees.
  EXPECT_EQ(X509_check_host(cert.get(), "coord.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "evil.example.org", 0, 0, nullptr), 1);
}

TEST_F(PkiTest, DuplicateHostnamesAppearOnce) {
  Credential cred = Issue(Role::kCoordinator, "localhost", {"localhost", "LOCALHOST"});
  EXPECT_THAT(ReadSans(ParsePem(cred.cert_pem).get()).dns, ElementsAre("localhost"));
}

TEST_F(PkiTest, BadHostnameIsRejected) {
  absl::StatusOr<Credential> cred = IssueCertificate(
      ca_, Role::kCoordinator, "coord", {"bad host!"}, kNow, 30 * kDay);
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cred.status().message(), HasSubstr("bad host!"));
}

class InvalidNameTest : public PkiTest,
                        public ::testing::WithParamInterface<std::string> {};

TEST_P(InvalidNameTest, IsRejectedNamingTheName) {
  absl::StatusOr<Credential> cred =
      IssueCertificate(ca_, Role::kSite, GetParam(), {}, kNow, 30 * kDay);
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cred.status().message(), HasSubstr("invalid name"));
  if (!GetParam().empty() && GetParam().size() < 20) {
    // Names are quoted C-escaped, so control bytes cannot reach a terminal.
    EXPECT_THAT(cred.status().message(), HasSubstr(absl::CHexEscape(GetParam())));
  }
}

INSTANTIATE_TEST_SUITE_P(Names, InvalidNameTest,
                         ::testing::Values("", "Hungary", "a/b", "../etc", "x y", "site:1",
                                           std::string(65, 'a'), std::string("nul\0x", 5)));

TEST(EntityNameTest, AcceptsTheFullAlphabetUpTo64Characters) {
  EXPECT_TRUE(ValidateEntityName("a").ok());
  EXPECT_TRUE(ValidateEntityName("st.olav_2-trondheim").ok());
  EXPECT_TRUE(ValidateEntityName(std::string(64, 'z')).ok());
}

TEST(CreateCertificateAuthorityTest, RejectsBadParameters) {
  EXPECT_EQ(CreateCertificateAuthority("", kNow, kDay).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority(std::string(65, 'c'), kNow, kDay).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority("bad\nname", kNow, kDay).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateCertificateAuthority("ok", kNow, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiTest, IssuingWithMismatchedCaKeyFails) {
  absl::StatusOr<Credential> other =
      CreateCertificateAuthority("heart-consortium", kNow, kDay);
  ASSERT_TRUE(other.ok());
  Credential mixed{ca_.cert_pem, other->key_pem};
  absl::StatusOr<Credential> cred =
      IssueCertificate(mixed, Role::kSite, "hungary", {}, kNow, kDay);
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cred.status().message(), HasSubstr("does not match"));
}

TEST_F(PkiTest, LeafCannotActAsCa) {
  Credential site = Issue(Role::kSite, "hungary");
  absl::StatusOr<Credential> cred =
      IssueCertificate(site, Role::kSite, "sub", {}, kNow, kDay);
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(cred.status().message(), HasSubstr("not a CA"));
}

TEST_F(PkiTest, CaCertificateHasNoIdentity) {
  absl::StatusOr<PeerIdentity> id = IdentityFromCertificatePem(ca_.cert_pem);
  EXPECT_EQ(id.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(id.status().message(), HasSubstr("no cohort:// URI"));
}

struct MalformedIdentityCase {
  std::string name;
  std::vector<std::string> sans;
  std::string expected_message;
};

void PrintTo(const MalformedIdentityCase& c, std::ostream* os) { *os << c.name; }

class MalformedIdentityTest : public ::testing::TestWithParam<MalformedIdentityCase> {};

TEST_P(MalformedIdentityTest, IsPermissionDenied) {
  absl::StatusOr<PeerIdentity> id =
      IdentityFromCertificatePem(SelfSignedWithSans(GetParam().sans));
  EXPECT_EQ(id.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(id.status().message(), HasSubstr(GetParam().expected_message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedIdentityTest,
    ::testing::ValuesIn(std::vector<MalformedIdentityCase>{
        {.name = "NoSan", .sans = {}, .expected_message = "no cohort:// URI"},
        {.name = "OtherUri", .sans = {"URI:https://example.org/x"},
         .expected_message = "no cohort:// URI"},
        {.name = "UnknownRole", .sans = {"URI:cohort://janitor/bob"},
         .expected_message = "unknown role"},
        {.name = "MissingName", .sans = {"URI:cohort://site"}, .expected_message = "malformed"},
        {.name = "ExtraSegment", .sans = {"URI:cohort://site/a/b"},
         .expected_message = "malformed"},
        {.name = "BadName", .sans = {"URI:cohort://site/Hungary"},
         .expected_message = "invalid name"},
        {.name = "TwoIdentities", .sans = {"URI:cohort://site/a,URI:cohort://admin/b"},
         .expected_message = "exactly one"},
        // Two SAN extensions: a verifier that reads only the first would
        // disagree with one that reads the last, so neither is trusted.
        {.name = "TwoSanExtensions", .sans = {"URI:cohort://site/a", "URI:cohort://admin/b"},
         .expected_message = "more than one subjectAltName extension"},
    }),
    [](const auto& info) { return info.param.name; });

TEST_F(PkiTest, FlippedSignatureByteFailsVerification) {
  Credential cred = Issue(Role::kSite, "hungary");
  std::string der = Der(ParsePem(cred.cert_pem).get());
  der.back() ^= 0x01;  // The last byte lies inside the ECDSA signature's s.
  absl::Status status = VerifyCertificateChain(DerToPem(der), ca_.cert_pem, kNow);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(status.message(), HasSubstr("certificate signature failure"));
}

TEST_F(PkiTest, ForgedIdentityInSignedPartFailsVerification) {
  Credential cred = Issue(Role::kSite, "hungary");
  std::string der = Der(ParsePem(cred.cert_pem).get());
  // Rename the site inside the signed URI SAN without re-signing.
  const size_t at = der.find("cohort://site/hungary");
  ASSERT_NE(at, std::string::npos);
  der.replace(at, 21, "cohort://site/hungarz");
  absl::StatusOr<PeerIdentity> forged = IdentityFromCertificatePem(DerToPem(der));
  ASSERT_TRUE(forged.ok()) << forged.status();
  ASSERT_EQ(forged->name, "hungarz");  // The forgery parses; only the signature catches it.
  EXPECT_THAT(VerifyCertificateChain(DerToPem(der), ca_.cert_pem, kNow).message(),
              HasSubstr("certificate signature failure"));
}

TEST(PkiParseTest, GarbageAndTruncatedPemAreInvalidArgument) {
  EXPECT_EQ(IdentityFromCertificatePem("not a certificate").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Credential> ca = CreateCertificateAuthority("c", kNow, kDay);
  ASSERT_TRUE(ca.ok());
  const std::string truncated = ca->cert_pem.substr(0, ca->cert_pem.size() / 2);
  EXPECT_EQ(VerifyCertificateChain(truncated, ca->cert_pem, kNow).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CertificateNotAfter(truncated).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PkiTest, DescribeCertificateListsSansAndIssuer) {
  Credential cred = Issue(Role::kCoordinator, "localhost", {"localhost", "::1"});
  absl::StatusOr<CertificateInfo> info = DescribeCertificate(cred.cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->subject_alt_names,
              ElementsAre("URI:cohort://coordinator/localhost", "DNS:localhost", "IP:::1"));
  EXPECT_THAT(info->issuer, HasSubstr("O=heart-consortium"));
  EXPECT_THAT(info->subject, HasSubstr("CN=localhost"));
  EXPECT_FALSE(info->is_ca);
  EXPECT_EQ(info->not_after - info->not_before, 30 * kDay);
  EXPECT_EQ(info->sha256_fingerprint_hex.size(), 64u);
  EXPECT_THAT(info->subject_alt_names, Not(Contains("DNS:::1")));
}

}  // namespace
}  // namespace cohort::crypto
