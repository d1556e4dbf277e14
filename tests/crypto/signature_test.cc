#include "crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

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
