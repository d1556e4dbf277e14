#include "crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "crypto/openssl_ptr.h"
#include "crypto/pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2030, 6, 1, 12, 0, 0), absl::UTCTimeZone());
constexpr absl::Duration kDay = absl::Hours(24);

constexpr absl::string_view kMessage = "study heart; round 3; phase share-keys; site hungary";

// One consortium (CA, two sites, the coordinator) and a stranger CA, made once:
// key generation is the slow part and no test mutates them.
class SignatureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new Credential(
        Make(CreateCertificateAuthority("heart-consortium", kNow - kDay, 3650 * kDay)));
    hungary_ = new Credential(
        Make(IssueCertificate(*ca_, Role::kSite, "hungary", {}, kNow - kDay, 365 * kDay)));
    switzerland_ = new Credential(
        Make(IssueCertificate(*ca_, Role::kSite, "switzerland", {}, kNow - kDay, 365 * kDay)));
    coordinator_ = new Credential(Make(IssueCertificate(*ca_, Role::kCoordinator, "coordinator",
                                                        {"localhost"}, kNow - kDay, 365 * kDay)));
    other_ca_ = new Credential(
        Make(CreateCertificateAuthority("other-consortium", kNow - kDay, 3650 * kDay)));
    impostor_ = new Credential(
        Make(IssueCertificate(*other_ca_, Role::kSite, "hungary", {}, kNow - kDay, 365 * kDay)));
  }

  static void TearDownTestSuite() {
    for (Credential** c : {&ca_, &hungary_, &switzerland_, &coordinator_, &other_ca_, &impostor_}) {
      delete *c;
      *c = nullptr;
    }
  }

  static Credential Make(absl::StatusOr<Credential> credential) {
    EXPECT_TRUE(credential.ok()) << credential.status();
    return credential.ok() ? *std::move(credential) : Credential{};
  }

  static std::unique_ptr<Signer> NewSigner(const Credential& credential) {
    absl::StatusOr<std::unique_ptr<Signer>> signer = Signer::FromPrivateKeyPem(credential.key_pem);
    EXPECT_TRUE(signer.ok()) << signer.status();
    return signer.ok() ? std::move(*signer) : nullptr;
  }

  static std::unique_ptr<Verifier> NewVerifier(const Credential& credential) {
    absl::StatusOr<std::unique_ptr<Verifier>> verifier =
        Verifier::FromCertificate(credential.cert_pem, ca_->cert_pem, kNow);
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    return verifier.ok() ? std::move(*verifier) : nullptr;
  }

  static std::string SignOrDie(const Credential& credential, absl::string_view data) {
    std::unique_ptr<Signer> signer = NewSigner(credential);
    if (signer == nullptr) return "";
    absl::StatusOr<std::string> signature = signer->Sign(data);
    EXPECT_TRUE(signature.ok()) << signature.status();
    return signature.ok() ? *signature : "";
  }

  static Credential* ca_;
  static Credential* hungary_;
  static Credential* switzerland_;
  static Credential* coordinator_;
  static Credential* other_ca_;
  static Credential* impostor_;
};

Credential* SignatureTest::ca_ = nullptr;
Credential* SignatureTest::hungary_ = nullptr;
Credential* SignatureTest::switzerland_ = nullptr;
Credential* SignatureTest::coordinator_ = nullptr;
Credential* SignatureTest::other_ca_ = nullptr;
Credential* SignatureTest::impostor_ = nullptr;

TEST_F(SignatureTest, SignatureVerifies) {
  std::unique_ptr<Verifier> verifier = NewVerifier(*hungary_);
  ASSERT_NE(verifier, nullptr);
  const std::string signature = SignOrDie(*hungary_, kMessage);
  ASSERT_FALSE(signature.empty());
  EXPECT_TRUE(verifier->Verify(kMessage, signature).ok());
}

TEST_F(SignatureTest, EmptyDataSignsAndVerifies) {
  std::unique_ptr<Verifier> verifier = NewVerifier(*hungary_);
  ASSERT_NE(verifier, nullptr);
  const std::string signature = SignOrDie(*hungary_, "");
  EXPECT_TRUE(verifier->Verify("", signature).ok());
  EXPECT_FALSE(verifier->Verify("x", signature).ok());
}

// An independent check, straight through OpenSSL: the signature is DER ECDSA
// over SHA-256 of the data, under the certificate's key.
TEST_F(SignatureTest, SignatureIsEcdsaSha256UnderTheCertificateKey) {
  const std::string signature = SignOrDie(*hungary_, kMessage);
  BioPtr bio(
      BIO_new_mem_buf(hungary_->cert_pem.data(), static_cast<int>(hungary_->cert_pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(cert, nullptr);
  EvpPkeyPtr key(X509_get_pubkey(cert.get()));
  ASSERT_NE(key, nullptr);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()), 1);
  EXPECT_EQ(
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(kMessage.data()),
                       kMessage.size()),
      1);
}

TEST_F(SignatureTest, EveryFlippedSignatureBitFails) {
  std::unique_ptr<Verifier> verifier = NewVerifier(*hungary_);
  ASSERT_NE(verifier, nullptr);
  const std::string signature = SignOrDie(*hungary_, kMessage);
  ASSERT_FALSE(signature.empty());
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    std::string tampered = signature;
    tampered[bit / 8] = static_cast<char>(tampered[bit / 8] ^ (1 << (bit % 8)));
    absl::Status status = verifier->Verify(kMessage, tampered);
    ASSERT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << "bit " << bit;
    EXPECT_THAT(status.message(), HasSubstr("signature does not verify"));
  }
}

TEST_F(SignatureTest, TruncatedSignatureFails) {
  std::unique_ptr<Verifier> verifier = NewVerifier(*hungary_);
  ASSERT_NE(verifier, nullptr);
  const std::string signature = SignOrDie(*hungary_, kMessage);
  for (size_t len = 0; len < signature.size(); ++len) {
    EXPECT_EQ(verifier->Verify(kMessage, signature.substr(0, len)).code(),
              absl::StatusCode::kPermissionDenied)
        << "length " << len;
  }
}

TEST_F(SignatureTest, OtherDataFails) {
  std::unique_ptr<Verifier> verifier = NewVerifier(*hungary_);
  ASSERT_NE(verifier, nullptr);
  const std::string signature = SignOrDie(*hungary_, kMessage);
  std::string flipped(kMessage);
  flipped[0] = static_cast<char>(flipped[0] ^ 0x01);
  EXPECT_EQ(verifier->Verify(flipped, signature).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(verifier->Verify(std::string(kMessage) + " ", signature).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(verifier->Verify("", signature).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SignatureTest, AnotherSitesSignatureFails) {
  std::unique_ptr<Verifier> hungary = NewVerifier(*hungary_);
  ASSERT_NE(hungary, nullptr);
  EXPECT_EQ(hungary->Verify(kMessage, SignOrDie(*switzerland_, kMessage)).code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(SignatureTest, IdentityIsTheCertificatesIdentity) {
  std::unique_ptr<Verifier> hungary = NewVerifier(*hungary_);
  std::unique_ptr<Verifier> coordinator = NewVerifier(*coordinator_);
  ASSERT_NE(hungary, nullptr);
  ASSERT_NE(coordinator, nullptr);
  EXPECT_EQ(hungary->identity(), (PeerIdentity{Role::kSite, "hungary"}));
  EXPECT_EQ(coordinator->identity(), (PeerIdentity{Role::kCoordinator, "coordinator"}));
}

TEST_F(SignatureTest, CertificateFromAnotherCaCannotMakeAVerifier) {
  absl::StatusOr<std::unique_ptr<Verifier>> verifier =
      Verifier::FromCertificate(impostor_->cert_pem, ca_->cert_pem, kNow);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SignatureTest, ExpiredCertificateCannotMakeAVerifier) {
  absl::StatusOr<std::unique_ptr<Verifier>> verifier =
      Verifier::FromCertificate(hungary_->cert_pem, ca_->cert_pem, kNow + 400 * kDay);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SignatureTest, CaCertificateHasNoIdentityAndCannotMakeAVerifier) {
  absl::StatusOr<std::unique_ptr<Verifier>> verifier =
      Verifier::FromCertificate(ca_->cert_pem, ca_->cert_pem, kNow);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(SignatureTest, GarbageCertificateIsInvalidArgument) {
  absl::StatusOr<std::unique_ptr<Verifier>> verifier =
      Verifier::FromCertificate("not a certificate", ca_->cert_pem, kNow);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kInvalidArgument);
}

// --- CertificateVerifier: parse once, remember, re-check validity only.

class CertificateVerifierTest : public SignatureTest {
 protected:
  static std::shared_ptr<CertificateVerifier> NewCertificates(const Credential& ca) {
    absl::StatusOr<std::shared_ptr<CertificateVerifier>> certificates =
        CertificateVerifier::New(ca.cert_pem);
    EXPECT_TRUE(certificates.ok()) << certificates.status();
    return certificates.ok() ? *std::move(certificates) : nullptr;
  }

  // What the uncached path says about `cert` at `now`: OK, or its status.
  static absl::Status Uncached(const Credential& cert, const Credential& ca, absl::Time now) {
    return Verifier::FromCertificate(cert.cert_pem, ca.cert_pem, now).status();
  }
};

TEST_F(CertificateVerifierTest, VerifiesSignaturesAndRemembersTheCertificate) {
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  ASSERT_NE(certificates, nullptr);
  absl::StatusOr<std::shared_ptr<const Verifier>> first =
      certificates->VerifierFor(hungary_->cert_pem, kNow);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->identity(), (PeerIdentity{Role::kSite, "hungary"}));
  EXPECT_TRUE((*first)->Verify(kMessage, SignOrDie(*hungary_, kMessage)).ok());
  EXPECT_EQ((*first)->Verify(kMessage, SignOrDie(*switzerland_, kMessage)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(certificates->cached(), 1u);

  absl::StatusOr<std::shared_ptr<const Verifier>> again =
      certificates->VerifierFor(hungary_->cert_pem, kNow + kDay);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->get(), first->get());  // from the cache
  EXPECT_EQ(certificates->cached(), 1u);
}

TEST_F(CertificateVerifierTest, RememberedCertificateIsRefusedOnceExpired) {
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  ASSERT_TRUE(certificates->VerifierFor(hungary_->cert_pem, kNow).ok());
  const absl::Time later = kNow + 400 * kDay;  // hungary is valid for 365 days
  absl::StatusOr<std::shared_ptr<const Verifier>> expired =
      certificates->VerifierFor(hungary_->cert_pem, later);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(expired.status().message(), HasSubstr("certificate has expired"));
  // Worded as the full check words it.
  EXPECT_EQ(expired.status(), Uncached(*hungary_, *ca_, later));
  // Still known, and still fine at a valid time.
  EXPECT_TRUE(certificates->VerifierFor(hungary_->cert_pem, kNow).ok());
}

TEST_F(CertificateVerifierTest, RememberedCertificateIsRefusedBeforeItIsValid) {
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  ASSERT_TRUE(certificates->VerifierFor(hungary_->cert_pem, kNow).ok());
  const absl::Time earlier = kNow - 2 * kDay;  // hungary is valid from kNow - 1 day
  absl::StatusOr<std::shared_ptr<const Verifier>> early =
      certificates->VerifierFor(hungary_->cert_pem, earlier);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(early.status().message(), HasSubstr("not yet valid"));
  EXPECT_EQ(early.status(), Uncached(*hungary_, *ca_, earlier));
}

// The cache agrees with the full check to the second at both ends of the
// validity window (valid iff notBefore <= now < notAfter).
TEST_F(CertificateVerifierTest, AgreesWithTheFullCheckAtTheEdgesOfTheWindow) {
  absl::StatusOr<CertificateInfo> info = DescribeCertificate(hungary_->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  ASSERT_TRUE(certificates->VerifierFor(hungary_->cert_pem, kNow).ok());
  for (absl::Time t : {info->not_before - absl::Seconds(1), info->not_before,
                       info->not_before + absl::Milliseconds(999), info->not_after - absl::Seconds(1),
                       info->not_after - absl::Milliseconds(1), info->not_after,
                       info->not_after + absl::Seconds(1)}) {
    const absl::Status full = Uncached(*hungary_, *ca_, t);
    EXPECT_EQ(certificates->VerifierFor(hungary_->cert_pem, t).status(), full)
        << absl::FormatTime(t);
  }
  EXPECT_TRUE(Uncached(*hungary_, *ca_, info->not_before).ok());
  EXPECT_FALSE(Uncached(*hungary_, *ca_, info->not_after).ok());
}

TEST_F(CertificateVerifierTest, RememberedCertificateIsRefusedOnceTheCaExpired) {
  // A CA that expires long before the certificate it issued.
  const Credential short_ca =
      Make(CreateCertificateAuthority("short-lived", kNow - kDay, 10 * kDay));
  const Credential site =
      Make(IssueCertificate(short_ca, Role::kSite, "hungary", {}, kNow - kDay, 365 * kDay));
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(short_ca);
  ASSERT_TRUE(certificates->VerifierFor(site.cert_pem, kNow).ok());
  const absl::Time later = kNow + 20 * kDay;
  absl::StatusOr<std::shared_ptr<const Verifier>> verifier =
      certificates->VerifierFor(site.cert_pem, later);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(verifier.status().message(), HasSubstr("(at issuer"));
  EXPECT_EQ(verifier.status(), Uncached(site, short_ca, later));
}

TEST_F(CertificateVerifierTest, RememberedCertificateIsRefusedBeforeItIsValidUnderAValidCa) {
  const Credential early_ca = Make(CreateCertificateAuthority("early", kNow - 10 * kDay, 3650 * kDay));
  const Credential site =
      Make(IssueCertificate(early_ca, Role::kSite, "hungary", {}, kNow + kDay, 365 * kDay));
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(early_ca);
  ASSERT_TRUE(certificates->VerifierFor(site.cert_pem, kNow + 2 * kDay).ok());
  absl::StatusOr<std::shared_ptr<const Verifier>> verifier =
      certificates->VerifierFor(site.cert_pem, kNow);
  EXPECT_EQ(verifier.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(verifier.status().message(), HasSubstr("not yet valid"));
  EXPECT_THAT(verifier.status().message(), ::testing::Not(HasSubstr("(at issuer")));
  EXPECT_EQ(verifier.status(), Uncached(site, early_ca, kNow));
}

TEST_F(CertificateVerifierTest, CertificateOfAnotherCaIsRefusedAndNotRemembered) {
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<std::shared_ptr<const Verifier>> verifier =
        certificates->VerifierFor(impostor_->cert_pem, kNow);
    EXPECT_EQ(verifier.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_EQ(verifier.status(), Uncached(*impostor_, *ca_, kNow));
  }
  EXPECT_EQ(certificates->cached(), 0u);
  // The other CA's verifier accepts it, and not ours.
  std::shared_ptr<CertificateVerifier> others = NewCertificates(*other_ca_);
  EXPECT_TRUE(others->VerifierFor(impostor_->cert_pem, kNow).ok());
  EXPECT_EQ(others->VerifierFor(hungary_->cert_pem, kNow).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(CertificateVerifierTest, RefusesWhatFromCertificateRefuses) {
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  // The CA's own certificate chains but names no Cohort identity.
  EXPECT_EQ(certificates->VerifierFor(ca_->cert_pem, kNow).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(certificates->VerifierFor("not a certificate", kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(certificates->VerifierFor("", kNow).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(certificates->cached(), 0u);
  // An expired certificate seen for the first time.
  EXPECT_EQ(certificates->VerifierFor(hungary_->cert_pem, kNow + 400 * kDay).status(),
            Uncached(*hungary_, *ca_, kNow + 400 * kDay));
  EXPECT_EQ(certificates->cached(), 0u);
}

TEST_F(CertificateVerifierTest, GarbageCaIsInvalidArgument) {
  EXPECT_EQ(CertificateVerifier::New("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CertificateVerifier::New("not a CA").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CertificateVerifierTest, UsableFromSeveralThreads) {
  std::shared_ptr<CertificateVerifier> certificates = NewCertificates(*ca_);
  const std::string signature = SignOrDie(*switzerland_, kMessage);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const Credential& cert = (i + t) % 2 == 0 ? *hungary_ : *switzerland_;
        absl::StatusOr<std::shared_ptr<const Verifier>> v =
            certificates->VerifierFor(cert.cert_pem, kNow);
        if (!v.ok()) {
          ++failures;
          continue;
        }
        if (&cert == switzerland_ && !(*v)->Verify(kMessage, signature).ok()) ++failures;
        if (certificates->VerifierFor(impostor_->cert_pem, kNow).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(certificates->cached(), 2u);
}

TEST(SignerTest, GarbagePemIsInvalidArgument) {
  EXPECT_EQ(Signer::FromPrivateKeyPem("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Signer::FromPrivateKeyPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(SignerTest, NonP256KeyIsInvalidArgument) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(key, nullptr);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
            1);
  absl::StatusOr<std::unique_ptr<Signer>> signer =
      Signer::FromPrivateKeyPem(MemBioContents(bio.get()));
  EXPECT_EQ(signer.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cohort::crypto
