#include "crypto/secagg/client.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"
#include "crypto/aes_gcm.h"
#include "crypto/secagg/advertisement.h"
#include "crypto/secagg/fault.h"
#include "crypto/secagg/round_params.h"
#include "crypto/shamir.h"
#include "crypto/x25519.h"

namespace cohort::secagg {

// The secret shares of one owner that this site holds.
struct HeldShares {
  crypto::ShamirShare mask_key;
  crypto::ShamirShare self_mask_seed;

  HeldShares() = default;
  HeldShares(HeldShares&&) = default;
  HeldShares& operator=(HeldShares&&) = default;
  ~HeldShares() {
    WipeShare(mask_key);
    WipeShare(self_mask_seed);
  }
};

// Everything the client's states share. Owned by SecAggClient.
class ClientSession {
 public:
  std::shared_ptr<const RoundParams> params;
  std::string site;
  int index = 0;
  std::string cert_pem;
  std::shared_ptr<const crypto::Signer> signer;
  std::shared_ptr<crypto::CertificateVerifier> certificates;  // the consortium CA
  crypto::SecurePrng* prng = nullptr;
  const util::Clock* clock = nullptr;

  // Phase 0.
  std::unique_ptr<crypto::X25519PrivateKey> enc_key;   // c
  std::unique_ptr<crypto::X25519PrivateKey> mask_key;  // s
  // Phase 1: neighbours whose advertisement verified, and the self-mask seed.
  std::map<int, PeerKeys> accepted;
  crypto::SecretData self_mask_seed;  // b
  // Phase 1 and 2: shares held, by owner (this site's own included).
  std::map<int, HeldShares> held;
  // Phase 2: neighbours whose pairwise mask is in the masked input.
  std::vector<int> linked;
  // Phase 3: the answered request (serialized) and the answer.
  std::string answered_unmask_request;
  v1::UnmaskResponse unmask_response;

  std::vector<Refusal> refusals;
  std::map<std::string, Refusal> rejected_peers;
  bool end_session = false;

  util::LogContext log() const { return params->LogContextFor(site); }

  // Records, logs and returns a refusal. `end` ends the session.
  absl::Status Refuse(v1::SecAggPhase phase, v1::DropReason reason, absl::string_view message,
                      bool end) {
    refusals.push_back(Refusal{phase, reason, std::string(message)});
    if (end) end_session = true;
    util::LogWarn(log(), absl::StrCat("secure aggregation: refused ", v1::SecAggPhase_Name(phase),
                                      " request (", DropReasonName(reason), "): ", message,
                                      end ? "; session ended" : ""));
    return Fault(reason, message);
  }

  // Stops trusting a neighbour (the first reason is kept) and logs why.
  void RejectPeer(v1::SecAggPhase phase, absl::string_view peer, const absl::Status& why) {
    v1::DropReason reason = DropReasonOf(why);
    if (reason == v1::DROP_REASON_UNSPECIFIED) reason = v1::MALFORMED;
    rejected_peers.emplace(std::string(peer), Refusal{phase, reason, std::string(why.message())});
    util::LogWarn(log(), absl::StrCat("secure aggregation: ignoring neighbour \"", peer, "\" in ",
                                      v1::SecAggPhase_Name(phase), " (", DropReasonName(reason),
                                      "): ", why.message()));
  }
};

// The phase the client is in. Each handler returns the response and the
// next state (nullptr: stay).
class ClientState {
 public:
  template <typename Response>
  struct Next {
    std::unique_ptr<ClientState> state;
    Response response;
  };

  explicit ClientState(ClientSession& session) : session_(session) {}
  virtual ~ClientState() = default;
  virtual std::string StateName() const = 0;

  virtual absl::StatusOr<Next<v1::AdvertiseKeys>> AdvertiseKeys() {
    return NotExpected("AdvertiseKeys");
  }
  virtual absl::StatusOr<Next<v1::ShareKeysResponse>> ShareKeys(const v1::ShareKeysRequest&) {
    return NotExpected("ShareKeys");
  }
  virtual absl::StatusOr<Next<v1::MaskedInput>> MaskInput(const v1::MaskedInputRequest&,
                                                          absl::Span<const uint64_t>) {
    return NotExpected("MaskInput");
  }
  virtual absl::StatusOr<Next<v1::UnmaskResponse>> Unmask(const v1::UnmaskRequest&) {
    return NotExpected("Unmask");
  }

 protected:
  virtual absl::Status NotExpected(absl::string_view call) const {
    return absl::FailedPreconditionError(absl::StrCat(
        "secure aggregation client for \"", session_.site, "\": ", call,
        " is not expected in state ", StateName()));
  }
  ClientSession& session_;
};

namespace {

using Phase = v1::SecAggPhase;

class AbortedState final : public ClientState {
 public:
  using ClientState::ClientState;
  std::string StateName() const override { return "Aborted"; }

 protected:
  absl::Status NotExpected(absl::string_view call) const override {
    std::string why = session_.refusals.empty() ? "" : session_.refusals.back().message;
    return absl::FailedPreconditionError(absl::StrCat(
        "secure aggregation client for \"", session_.site, "\": ", call,
        ": the session was aborted: ", why));
  }
};

// Phase 3 answered: an identical redelivery gets the same answer, anything
// else is refused (it could be an attempt to get the other secret).
class CompletedState final : public ClientState {
 public:
  using ClientState::ClientState;
  std::string StateName() const override { return "Completed"; }

  absl::StatusOr<Next<v1::UnmaskResponse>> Unmask(const v1::UnmaskRequest& request) override {
    if (request.SerializeAsString() == session_.answered_unmask_request) {
      return Next<v1::UnmaskResponse>{nullptr, session_.unmask_response};
    }
    return session_.Refuse(v1::PHASE_UNMASK, v1::REFUSED_REQUEST,
                           "a second, different unmask request in one session", true);
  }
};

class UnmaskState final : public ClientState {
 public:
  using ClientState::ClientState;
  std::string StateName() const override { return "Unmask"; }

  absl::StatusOr<Next<v1::UnmaskResponse>> Unmask(const v1::UnmaskRequest& request) override {
    ClientSession& s = session_;
    const RoundParams& p = *s.params;
    constexpr Phase kPhase = v1::PHASE_UNMASK;
    if (request.context_digest() != p.digest()) {
      return s.Refuse(kPhase, v1::REPLAYED_OR_MISBOUND,
                      "unmask request bound to another study, round or attempt", false);
    }
    absl::btree_set<int> survivors, dropouts;
    for (const auto& [list, out] : {std::pair{&request.survivors(), &survivors},
                                    std::pair{&request.dropouts(), &dropouts}}) {
      for (const std::string& name : *list) {
        std::optional<int> idx = p.IndexOf(name);
        if (!idx.has_value()) {
          return s.Refuse(kPhase, v1::MALFORMED,
                          absl::StrCat("unmask request names unknown site \"", name, "\""), false);
        }
        if (!out->insert(*idx).second) {
          return s.Refuse(kPhase, v1::MALFORMED,
                          absl::StrCat("unmask request names \"", name, "\" twice"), false);
        }
      }
    }
    for (int idx : survivors) {
      if (dropouts.contains(idx)) {
        return s.Refuse(kPhase, v1::REFUSED_REQUEST,
                        absl::StrCat("unmask request names \"", p.Name(idx),
                                     "\" both as survivor and as dropout: answering would "
                                     "reveal both of its secrets"),
                        true);
      }
    }
    if (!survivors.contains(s.index)) {
      return s.Refuse(kPhase, v1::REFUSED_REQUEST,
                      "unmask request does not list this site as a survivor", true);
    }
    if (static_cast<int>(survivors.size()) < p.threshold()) {
      return s.Refuse(kPhase, v1::TOO_FEW_SURVIVORS,
                      absl::StrCat(survivors.size(), " survivors, threshold ", p.threshold()),
                      true);
    }
    int alive = 1;
    for (int j : s.linked) alive += survivors.contains(j) ? 1 : 0;
    if (alive < p.threshold()) {
      return s.Refuse(kPhase, v1::TOO_FEW_SURVIVORS,
                      absl::StrCat(alive, " of this site's neighbourhood survive, threshold ",
                                   p.threshold()),
                      true);
    }

    v1::UnmaskResponse response;
    response.set_context_digest(p.digest());
    for (const auto& [owner, shares] : s.held) {
      v1::RevealedShare* out = nullptr;
      if (survivors.contains(owner)) {
        out = response.add_shares();
        out->set_kind(v1::SELF_MASK_SEED);
        *out->mutable_share() = ToProto(shares.self_mask_seed);
      } else if (dropouts.contains(owner)) {
        out = response.add_shares();
        out->set_kind(v1::MASK_KEY);
        *out->mutable_share() = ToProto(shares.mask_key);
      }
      if (out != nullptr) out->set_owner(p.Name(owner));
    }
    util::LogInfo(s.log(), absl::StrCat("secure aggregation: revealed ", response.shares_size(),
                                        " shares (", survivors.size(), " survivors, ",
                                        dropouts.size(), " dropouts)"));
    s.answered_unmask_request = request.SerializeAsString();
    s.unmask_response = response;
    // Shares are not needed any more.
    s.held.clear();
    return Next<v1::UnmaskResponse>{std::make_unique<CompletedState>(s), std::move(response)};
  }
};

class MaskedInputState final : public ClientState {
 public:
  using ClientState::ClientState;
  std::string StateName() const override { return "MaskedInput"; }

  absl::StatusOr<Next<v1::MaskedInput>> MaskInput(const v1::MaskedInputRequest& request,
                                                  absl::Span<const uint64_t> input) override {
    ClientSession& s = session_;
    const RoundParams& p = *s.params;
    constexpr Phase kPhase = v1::PHASE_MASKED_INPUT;
    if (input.size() != p.vector_length()) {
      return absl::InvalidArgumentError(absl::StrCat("input of ", input.size(),
                                                     " values, expected ", p.vector_length()));
    }
    for (size_t k = 0; k < input.size(); ++k) {
      if ((input[k] & ~p.value_mask()) != 0) {
        return absl::InvalidArgumentError(absl::StrCat("input[", k, "] = ", input[k],
                                                       " is not below 2^", p.bits()));
      }
    }
    if (request.context_digest() != p.digest()) {
      return s.Refuse(kPhase, v1::REPLAYED_OR_MISBOUND,
                      "masked-input request bound to another study, round or attempt", false);
    }

    std::map<int, HeldShares> incoming;
    std::set<int> seen;
    v1::MaskedInput response;
    auto complain = [&](int sender, const absl::Status& why) {
      s.RejectPeer(kPhase, p.Name(sender), why);
      v1::Complaint* c = response.add_complaints();
      c->set_site(p.Name(sender));
      c->set_reason(DropReasonOf(why));
      c->set_detail(std::string(why.message()));
      incoming.erase(sender);
    };
    for (const v1::EncryptedShare& share : request.shares()) {
      std::optional<int> sender = p.IndexOf(share.sender());
      if (!sender.has_value() || share.recipient() != s.site) {
        util::LogWarn(s.log(), absl::StrCat("secure aggregation: ignoring a ciphertext from \"",
                                            share.sender(), "\" to \"", share.recipient(),
                                            "\": not for this site from a participant"));
        continue;
      }
      auto peer = s.accepted.find(*sender);
      if (peer == s.accepted.end()) {
        util::LogWarn(s.log(), absl::StrCat("secure aggregation: ignoring a ciphertext from \"",
                                            share.sender(),
                                            "\": its advertisement was not accepted"));
        continue;
      }
      if (!seen.insert(*sender).second) {
        complain(*sender, Fault(v1::MALFORMED, "more than one ciphertext from this site"));
        continue;
      }
      absl::StatusOr<HeldShares> shares = Decrypt(*sender, peer->second, share.ciphertext());
      if (!shares.ok()) {
        complain(*sender, shares.status());
        continue;
      }
      incoming.emplace(*sender, std::move(*shares));
    }
    // A duplicate seen after a good ciphertext must not leave it in use.
    for (const v1::Complaint& c : response.complaints()) incoming.erase(*p.IndexOf(c.site()));

    const int alive = 1 + static_cast<int>(incoming.size());
    if (alive < p.threshold()) {
      return s.Refuse(kPhase, v1::TOO_FEW_SURVIVORS,
                      absl::StrCat("only ", alive,
                                   " of this site's neighbourhood sent valid shares, threshold ",
                                   p.threshold()),
                      true);
    }

    std::vector<uint64_t> y(input.begin(), input.end());
    RETURN_IF_ERROR(ApplyMask(s.self_mask_seed, absl::MakeSpan(y), p.bits(), false));
    std::vector<int> linked;
    for (auto& [j, shares] : incoming) {
      ASSIGN_OR_RETURN(crypto::SecretData seed,
                       p.DerivePairwiseSeed(*s.mask_key, s.accepted.at(j).mask_public_key,
                                            s.site, p.Name(j)));
      // The smaller name adds the mask, the larger subtracts it.
      RETURN_IF_ERROR(ApplyMask(seed, absl::MakeSpan(y), p.bits(), /*subtract=*/j < s.index));
      linked.push_back(j);
      s.held.insert_or_assign(j, std::move(shares));
    }
    s.linked = std::move(linked);
    response.set_context_digest(p.digest());
    response.set_packed_values(PackValues(y, p.bits()));
    util::LogInfo(s.log(), absl::StrCat("secure aggregation: masked input with ",
                                        s.linked.size(), " pairwise masks, ",
                                        response.complaints_size(), " complaints"));
    return Next<v1::MaskedInput>{std::make_unique<UnmaskState>(s), std::move(response)};
  }

 private:
  absl::StatusOr<HeldShares> Decrypt(int sender, const PeerKeys& keys,
                                     const std::string& ciphertext) const {
    const ClientSession& s = session_;
    const RoundParams& p = *s.params;
    const std::string& sender_name = p.Name(sender);
    ASSIGN_OR_RETURN(crypto::SecretData key,
                     p.DeriveShareKey(*s.enc_key, keys.enc_public_key, s.site, sender_name));
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead, crypto::AesGcm::New(key));
    absl::StatusOr<std::string> plaintext =
        aead->Decrypt(ciphertext, p.ShareAssociatedData(sender_name, s.site));
    if (!plaintext.ok()) {
      return Fault(v1::BAD_CIPHERTEXT,
                   absl::StrCat("shares do not decrypt: ", plaintext.status().message()));
    }
    v1::SharePayload payload;
    const bool parsed = payload.ParseFromString(*plaintext);
    WipeString(*plaintext);
    if (!parsed) return Fault(v1::MALFORMED, "decrypted shares do not parse");
    if (payload.sender() != sender_name || payload.recipient() != s.site) {
      return Fault(v1::REPLAYED_OR_MISBOUND,
                   absl::StrCat("shares are from \"", payload.sender(), "\" to \"",
                                payload.recipient(), "\""));
    }
    const uint32_t x = RoundParams::ShareX(s.index);
    RETURN_IF_ERROR(CheckShare(payload.mask_key_share(), x, kMaskKeySize));
    RETURN_IF_ERROR(CheckShare(payload.self_mask_seed_share(), x, kSelfMaskSeedSize));
    HeldShares held;
    held.mask_key = FromProto(payload.mask_key_share());
    held.self_mask_seed = FromProto(payload.self_mask_seed_share());
    for (uint64_t& v : *payload.mutable_mask_key_share()->mutable_values()) v = 0;
    for (uint64_t& v : *payload.mutable_self_mask_seed_share()->mutable_values()) v = 0;
    return held;
  }
};

class ShareKeysState final : public ClientState {
 public:
  using ClientState::ClientState;
  std::string StateName() const override { return "ShareKeys"; }

  absl::StatusOr<Next<v1::ShareKeysResponse>> ShareKeys(
      const v1::ShareKeysRequest& request) override {
    ClientSession& s = session_;
    const RoundParams& p = *s.params;
    constexpr Phase kPhase = v1::PHASE_SHARE_KEYS;
    if (ContextDigest(request.context()) != p.digest()) {
      return s.Refuse(kPhase, v1::REPLAYED_OR_MISBOUND,
                      "share-keys request for another study, round, attempt or parameter set",
                      false);
    }
    // Count first, so that a site advertised twice is rejected outright.
    std::map<int, int> count;
    for (const v1::AdvertiseKeys& ad : request.neighbours()) {
      std::optional<int> idx = p.IndexOf(ad.site());
      if (idx.has_value()) ++count[*idx];
    }
    std::map<int, PeerKeys> accepted;
    const absl::Time now = s.clock->Now();
    for (const v1::AdvertiseKeys& ad : request.neighbours()) {
      std::optional<int> idx = p.IndexOf(ad.site());
      if (idx.has_value() && *idx == s.index) continue;  // our own, echoed
      if (!idx.has_value() || !p.graph().AreNeighbours(s.index, *idx)) {
        s.RejectPeer(kPhase, ad.site(), Fault(v1::MALFORMED, "not a neighbour of this site"));
        continue;
      }
      if (count[*idx] > 1) {
        if (!s.rejected_peers.contains(ad.site())) {
          s.RejectPeer(kPhase, ad.site(), Fault(v1::MALFORMED, "advertised more than once"));
        }
        continue;
      }
      absl::StatusOr<PeerKeys> keys = VerifyAdvertisement(p, ad.site(), ad, *s.certificates, now);
      if (!keys.ok()) {
        s.RejectPeer(kPhase, ad.site(), keys.status());
        continue;
      }
      accepted.emplace(*idx, std::move(*keys));
    }
    const int holders = 1 + static_cast<int>(accepted.size());
    if (holders < p.threshold()) {
      return s.Refuse(kPhase, v1::TOO_FEW_SURVIVORS,
                      absl::StrCat("only ", holders,
                                   " of this site's neighbourhood have valid keys, threshold ",
                                   p.threshold()),
                      true);
    }

    ASSIGN_OR_RETURN(s.self_mask_seed, s.prng->RandomSecret(kSelfMaskSeedSize));
    // Shares are evaluated at every participant's point so that x is the
    // holder's global index + 1; only the neighbours' shares leave the site.
    ASSIGN_OR_RETURN(std::vector<crypto::ShamirShare> key_shares,
                     crypto::ShamirSplit(s.mask_key->private_bytes(), p.threshold(), p.size(),
                                         *s.prng));
    ASSIGN_OR_RETURN(std::vector<crypto::ShamirShare> seed_shares,
                     crypto::ShamirSplit(s.self_mask_seed, p.threshold(), p.size(), *s.prng));
    absl::Cleanup wipe = [&] {
      for (crypto::ShamirShare& share : key_shares) WipeShare(share);
      for (crypto::ShamirShare& share : seed_shares) WipeShare(share);
    };
    for (int i = 0; i < p.size(); ++i) {
      if (key_shares[i].x != RoundParams::ShareX(i) || seed_shares[i].x != RoundParams::ShareX(i)) {
        return absl::InternalError("Shamir shares are not ordered by evaluation point");
      }
    }

    v1::ShareKeysResponse response;
    response.set_context_digest(p.digest());
    for (const auto& [j, keys] : accepted) {
      const std::string& peer = p.Name(j);
      v1::SharePayload payload;
      payload.set_sender(s.site);
      payload.set_recipient(peer);
      *payload.mutable_mask_key_share() = ToProto(key_shares[j]);
      *payload.mutable_self_mask_seed_share() = ToProto(seed_shares[j]);
      std::string plaintext = payload.SerializeAsString();
      for (uint64_t& v : *payload.mutable_mask_key_share()->mutable_values()) v = 0;
      for (uint64_t& v : *payload.mutable_self_mask_seed_share()->mutable_values()) v = 0;
      absl::Cleanup wipe_plaintext = [&] { WipeString(plaintext); };
      ASSIGN_OR_RETURN(crypto::SecretData key,
                       p.DeriveShareKey(*s.enc_key, keys.enc_public_key, s.site, peer));
      ASSIGN_OR_RETURN(std::unique_ptr<crypto::AesGcm> aead, crypto::AesGcm::New(key));
      ASSIGN_OR_RETURN(std::string ciphertext,
                       aead->Encrypt(plaintext, p.ShareAssociatedData(s.site, peer), *s.prng));
      v1::EncryptedShare* out = response.add_shares();
      out->set_sender(s.site);
      out->set_recipient(peer);
      out->set_ciphertext(std::move(ciphertext));
    }
    HeldShares own;
    own.mask_key = std::move(key_shares[s.index]);
    own.self_mask_seed = std::move(seed_shares[s.index]);
    s.held.insert_or_assign(s.index, std::move(own));
    s.accepted = std::move(accepted);
    util::LogInfo(s.log(), absl::StrCat("secure aggregation: shared keys with ",
                                        s.accepted.size(), " neighbours"));
    return Next<v1::ShareKeysResponse>{std::make_unique<MaskedInputState>(s),
                                       std::move(response)};
  }
};

class AdvertiseKeysState final : public ClientState {
 public:
  using ClientState::ClientState;
  std::string StateName() const override { return "AdvertiseKeys"; }

  absl::StatusOr<Next<v1::AdvertiseKeys>> AdvertiseKeys() override {
    ClientSession& s = session_;
    ASSIGN_OR_RETURN(s.enc_key, crypto::X25519PrivateKey::Generate(*s.prng));
    ASSIGN_OR_RETURN(s.mask_key, crypto::X25519PrivateKey::Generate(*s.prng));
    ASSIGN_OR_RETURN(v1::AdvertiseKeys ad,
                     SignAdvertisement(*s.params, s.site, s.cert_pem, *s.signer,
                                       s.enc_key->public_key(), s.mask_key->public_key()));
    return Next<v1::AdvertiseKeys>{std::make_unique<ShareKeysState>(s), std::move(ad)};
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<SecAggClient>> SecAggClient::Create(SecAggClientConfig config,
                                                                   crypto::SecurePrng& prng,
                                                                   const util::Clock& clock) {
  ASSIGN_OR_RETURN(std::shared_ptr<crypto::CertificateVerifier> certificates,
                   crypto::CertificateVerifier::New(config.ca_pem));
  return Create(std::move(config), std::move(certificates), prng, clock);
}

absl::StatusOr<std::unique_ptr<SecAggClient>> SecAggClient::Create(
    SecAggClientConfig config, std::shared_ptr<crypto::CertificateVerifier> certificates,
    crypto::SecurePrng& prng, const util::Clock& clock) {
  if (certificates == nullptr) return absl::InvalidArgumentError("no certificate verifier");
  ASSIGN_OR_RETURN(std::shared_ptr<const RoundParams> params,
                   RoundParams::Create(config.context));
  std::optional<int> index = params->IndexOf(config.site);
  if (!index.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("site \"", config.site, "\" is not a participant of this round"));
  }
  if (config.signer == nullptr) return absl::InvalidArgumentError("no signer");
  ASSIGN_OR_RETURN(std::shared_ptr<const crypto::Verifier> own,
                   certificates->VerifierFor(config.cert_pem, clock.Now()));
  if (own->identity().role != crypto::Role::kSite || own->identity().name != config.site) {
    return absl::PermissionDeniedError(absl::StrCat(
        "certificate is for ", crypto::RoleName(own->identity().role), " \"",
        own->identity().name, "\", not site \"", config.site, "\""));
  }
  auto session = std::make_unique<ClientSession>();
  session->params = std::move(params);
  session->site = std::move(config.site);
  session->index = *index;
  session->cert_pem = std::move(config.cert_pem);
  session->signer = std::move(config.signer);
  session->certificates = std::move(certificates);
  session->prng = &prng;
  session->clock = &clock;
  auto state = std::make_unique<AdvertiseKeysState>(*session);
  return std::unique_ptr<SecAggClient>(new SecAggClient(std::move(session), std::move(state)));
}

SecAggClient::SecAggClient(std::unique_ptr<ClientSession> session,
                           std::unique_ptr<ClientState> state)
    : session_(std::move(session)), state_(std::move(state)) {}

SecAggClient::~SecAggClient() = default;

template <typename Response, typename Run>
absl::StatusOr<Response> SecAggClient::Step(Run run) {
  absl::StatusOr<ClientState::Next<Response>> next = run(*state_);
  if (!next.ok()) {
    if (session_->end_session && state_->StateName() != "Aborted") {
      state_ = std::make_unique<AbortedState>(*session_);
    }
    return next.status();
  }
  if (next->state != nullptr) state_ = std::move(next->state);
  return std::move(next->response);
}

absl::StatusOr<v1::AdvertiseKeys> SecAggClient::AdvertiseKeys() {
  return Step<v1::AdvertiseKeys>([](ClientState& s) { return s.AdvertiseKeys(); });
}

absl::StatusOr<v1::ShareKeysResponse> SecAggClient::ShareKeys(
    const v1::ShareKeysRequest& request) {
  return Step<v1::ShareKeysResponse>([&](ClientState& s) { return s.ShareKeys(request); });
}

absl::StatusOr<v1::MaskedInput> SecAggClient::MaskInput(const v1::MaskedInputRequest& request,
                                                        absl::Span<const uint64_t> input) {
  return Step<v1::MaskedInput>([&](ClientState& s) { return s.MaskInput(request, input); });
}

absl::StatusOr<v1::UnmaskResponse> SecAggClient::Unmask(const v1::UnmaskRequest& request) {
  return Step<v1::UnmaskResponse>([&](ClientState& s) { return s.Unmask(request); });
}

absl::StatusOr<v1::SecAggResponse> SecAggClient::Handle(const v1::SecAggRequest& request) {
  v1::SecAggResponse response;
  switch (request.kind_case()) {
    case v1::SecAggRequest::kShareKeys: {
      ASSIGN_OR_RETURN(*response.mutable_share_keys(), ShareKeys(request.share_keys()));
      return response;
    }
    case v1::SecAggRequest::kUnmask: {
      ASSIGN_OR_RETURN(*response.mutable_unmask(), Unmask(request.unmask()));
      return response;
    }
    case v1::SecAggRequest::kMaskedInput:
      return absl::InvalidArgumentError("a masked-input request needs the input: call MaskInput");
    case v1::SecAggRequest::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("empty secure aggregation request");
}

std::string SecAggClient::StateName() const { return state_->StateName(); }
bool SecAggClient::aborted() const { return session_->end_session; }
const std::vector<Refusal>& SecAggClient::refusals() const { return session_->refusals; }
const std::map<std::string, Refusal>& SecAggClient::rejected_peers() const {
  return session_->rejected_peers;
}

}  // namespace cohort::secagg
