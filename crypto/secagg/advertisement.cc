#include "crypto/secagg/advertisement.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/util/status_macros.h"
#include "crypto/pki.h"
#include "crypto/secagg/fault.h"
#include "crypto/x25519.h"

namespace cohort::secagg {

absl::StatusOr<v1::AdvertiseKeys> SignAdvertisement(const RoundParams& params,
                                                    absl::string_view site,
                                                    absl::string_view cert_pem,
                                                    const crypto::Signer& signer,
                                                    absl::string_view enc_public_key,
                                                    absl::string_view mask_public_key) {
  ASSIGN_OR_RETURN(std::string signature,
                   signer.Sign(params.AdvertisementBytes(site, enc_public_key, mask_public_key)));
  v1::AdvertiseKeys ad;
  ad.set_site(std::string(site));
  ad.set_cert_pem(std::string(cert_pem));
  ad.set_enc_public_key(std::string(enc_public_key));
  ad.set_mask_public_key(std::string(mask_public_key));
  ad.set_signature(std::move(signature));
  ad.set_context_digest(params.digest());
  return ad;
}

absl::StatusOr<PeerKeys> VerifyAdvertisement(const RoundParams& params, absl::string_view site,
                                             const v1::AdvertiseKeys& ad,
                                             crypto::CertificateVerifier& certificates,
                                             absl::Time now) {
  if (ad.site() != site) {
    return Fault(v1::REPLAYED_OR_MISBOUND,
                 absl::StrCat("advertisement names site \"", ad.site(), "\", expected \"", site,
                              "\""));
  }
  if (ad.context_digest() != params.digest()) {
    return Fault(v1::REPLAYED_OR_MISBOUND,
                 "advertisement is bound to another study, round, attempt or parameter set");
  }
  if (ad.enc_public_key().size() != crypto::kX25519KeySize ||
      ad.mask_public_key().size() != crypto::kX25519KeySize) {
    return Fault(v1::MALFORMED, "advertised public keys must be 32 bytes each");
  }
  if (ad.enc_public_key() == ad.mask_public_key()) {
    return Fault(v1::MALFORMED, "encryption and masking public keys are the same");
  }
  absl::StatusOr<std::shared_ptr<const crypto::Verifier>> verifier =
      certificates.VerifierFor(ad.cert_pem(), now);
  if (!verifier.ok()) {
    return Fault(v1::BAD_CERTIFICATE,
                 absl::StrCat("certificate rejected: ", verifier.status().message()));
  }
  const crypto::PeerIdentity& id = (*verifier)->identity();
  if (id.role != crypto::Role::kSite || id.name != site) {
    return Fault(v1::BAD_CERTIFICATE,
                 absl::StrCat("certificate is for ", crypto::RoleName(id.role), " \"", id.name,
                              "\", not site \"", site, "\""));
  }
  absl::Status verified = (*verifier)->Verify(
      params.AdvertisementBytes(site, ad.enc_public_key(), ad.mask_public_key()), ad.signature());
  if (!verified.ok()) {
    return Fault(v1::BAD_SIGNATURE,
                 absl::StrCat("advertisement signature: ", verified.message()));
  }
  return PeerKeys{ad.enc_public_key(), ad.mask_public_key()};
}

}  // namespace cohort::secagg
