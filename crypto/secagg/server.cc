#include "crypto/secagg/server.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/util/logging.h"
#include "common/util/status_macros.h"
#include "crypto/aes_gcm.h"
#include "crypto/prg.h"
#include "crypto/secagg/advertisement.h"
#include "crypto/secagg/fault.h"
#include "crypto/secagg/round_params.h"
#include "crypto/shamir.h"
#include "crypto/x25519.h"

namespace cohort::secagg {

using SiteSet = absl::btree_set<int>;
using RequestMap = absl::btree_map<std::string, v1::SecAggRequest>;

// What the server knows of one site.
struct ServerSiteRecord {
  bool live = true;       // not dropped
  bool answered = false;  // in the current phase
  // The message accepted in the current phase, kept to tell a redelivery
  // from a second, different message (compared only if one arrives).
  v1::SecAggResponse accepted;
  // Phase 0.
  v1::AdvertiseKeys advertisement;
  PeerKeys keys;
  // Phase 1: ciphertexts by recipient.
  absl::btree_map<int, std::string> ciphertexts;
  // Phase 2.
  // Packed, as received (see PackValues); moved out of `accepted` when
  // phase 2 closes.
  std::string masked_input;
  std::vector<std::pair<int, DropInfo>> complaints;
  // Phase 3.
  std::vector<v1::RevealedShare> revealed;
};

// Everything the server's states share. Owned by SecAggServer.
class ServerSession {
 public:
  std::shared_ptr<const RoundParams> params;
  std::shared_ptr<crypto::CertificateVerifier> certificates;
  const util::Clock* clock = nullptr;
  std::vector<ServerSiteRecord> sites;

  // Sites that passed phase 0 (were sent a ShareKeysRequest).
  SiteSet advertised;
  // Sites that passed phase 1 (their shares were delivered: U2).
  SiteSet shared;
  // From phase 1 on: pairs that hold each other's shares and (unless a
  // complaint cut them) mask with each other. Symmetric.
  std::vector<SiteSet> linked;
  // From phase 2 on: inputs in the sum, and dropouts whose mask key is needed.
  SiteSet survivors;
  SiteSet needed_dropouts;

  absl::btree_map<std::string, DropInfo> dropped;
  absl::btree_map<std::string, DropInfo> unmask_faults;
  std::string abort_reason;
  v1::SecAggPhase abort_phase = v1::PHASE_ADVERTISE_KEYS;
  std::optional<std::vector<uint64_t>> result;

  const RoundParams& p() const { return *params; }
  util::LogContext log(absl::string_view site = "") const { return params->LogContextFor(site); }

  SiteSet Live() const {
    SiteSet out;
    for (int i = 0; i < static_cast<int>(sites.size()); ++i) {
      if (sites[i].live) out.insert(i);
    }
    return out;
  }

  void Drop(int i, v1::DropReason reason, v1::SecAggPhase phase, absl::string_view message) {
    if (!sites[i].live) return;
    sites[i].live = false;
    dropped.emplace(p().Name(i), DropInfo{reason, phase, std::string(message)});
    util::LogWarn(log(p().Name(i)),
                  absl::StrCat("secure aggregation: dropped in ", v1::SecAggPhase_Name(phase),
                               " (", DropReasonName(reason), "): ", message));
  }

  // Drops every live site that did not answer the current phase.
  void DropSilent(v1::SecAggPhase phase) {
    for (int i : Live()) {
      if (!sites[i].answered) Drop(i, v1::MISSING_MESSAGE, phase, "no message in this phase");
    }
  }

  void ResetAnswers() {
    for (ServerSiteRecord& site : sites) {
      site.answered = false;
      site.accepted = v1::SecAggResponse();  // frees, unlike Clear()
    }
  }

  // Drops, until none is left, live sites whose neighbourhood (themselves and
  // their live `adjacency` neighbours) has fewer than `threshold` sites: they
  // could not share their secrets (or have them reconstructed) safely.
  void PruneNeighbourhoods(const std::vector<SiteSet>& adjacency, v1::SecAggPhase phase) {
    bool changed = true;
    while (changed) {
      changed = false;
      for (int i : Live()) {
        int alive = 1;
        for (int j : adjacency[i]) alive += sites[j].live ? 1 : 0;
        if (alive < p().threshold()) {
          Drop(i, v1::TOO_FEW_SURVIVORS, phase,
               absl::StrCat("only ", alive, " live sites in its neighbourhood, threshold ",
                            p().threshold()));
          changed = true;
        }
      }
    }
  }

  absl::Status Abort(v1::SecAggPhase phase, absl::string_view why) {
    abort_reason = std::string(why);
    abort_phase = phase;
    util::LogError(log(), absl::StrCat("secure aggregation: round aborted in ",
                                       v1::SecAggPhase_Name(phase), ": ", why,
                                       "; no output, no further shares requested"));
    return absl::FailedPreconditionError(absl::StrCat("secure aggregation aborted: ", why));
  }

  // The overall threshold, checked at the end of every phase.
  absl::Status CheckEnoughLive(v1::SecAggPhase phase) {
    const int live = static_cast<int>(Live().size());
    if (live < p().threshold()) {
      return Abort(phase, absl::StrCat(live, " sites left, threshold ", p().threshold()));
    }
    return absl::OkStatus();
  }
};

// One phase of the server. Accept() checks a site's message for this phase;
// Proceed() closes the phase and returns the next state and its requests.
class ServerState {
 public:
  struct Next {
    std::unique_ptr<ServerState> state;
    RequestMap requests;
  };

  explicit ServerState(ServerSession& session) : session_(session) {}
  virtual ~ServerState() = default;
  virtual std::string StateName() const = 0;
  virtual v1::SecAggPhase phase() const = 0;
  // Whether Accept() may be called (false once the round is over).
  virtual bool accepting() const { return true; }

  // OK, or a Fault for which the caller drops the site, or FailedPrecondition
  // for a message of another phase (no drop).
  virtual absl::Status Accept(int, const v1::SecAggResponse&) { return NotExpected("messages"); }
  virtual absl::StatusOr<Next> Proceed() { return NotExpected("StartNextPhase"); }
  virtual absl::StatusOr<std::vector<uint64_t>> Finish() { return NotExpected("Finish"); }

 protected:
  virtual absl::Status NotExpected(absl::string_view what) const {
    return absl::FailedPreconditionError(
        absl::StrCat("secure aggregation server: ", what, " not expected in state ", StateName()));
  }
  absl::Status WrongPhase(const v1::SecAggResponse& message) const {
    return absl::FailedPreconditionError(
        absl::StrCat("secure aggregation server: a message of kind ",
                     static_cast<int>(message.kind_case()),
                     " does not belong to phase ", v1::SecAggPhase_Name(phase())));
  }
  absl::Status CheckDigest(absl::string_view digest) const {
    if (digest != session_.p().digest()) {
      return Fault(v1::REPLAYED_OR_MISBOUND,
                   absl::StrCat("message bound to another study, round or attempt (phase ",
                                v1::SecAggPhase_Name(phase()), ")"));
    }
    return absl::OkStatus();
  }

  ServerSession& session_;
};

namespace {

class AbortedState final : public ServerState {
 public:
  AbortedState(ServerSession& session, v1::SecAggPhase phase)
      : ServerState(session), phase_(phase) {}
  std::string StateName() const override { return "Aborted"; }
  v1::SecAggPhase phase() const override { return phase_; }
  bool accepting() const override { return false; }

 protected:
  absl::Status NotExpected(absl::string_view what) const override {
    return absl::FailedPreconditionError(absl::StrCat(
        "secure aggregation server: ", what, ": the round aborted: ", session_.abort_reason));
  }

 private:
  v1::SecAggPhase phase_;
};

class CompletedState final : public ServerState {
 public:
  using ServerState::ServerState;
  std::string StateName() const override { return "Completed"; }
  v1::SecAggPhase phase() const override { return v1::PHASE_UNMASK; }
  bool accepting() const override { return false; }
  absl::StatusOr<std::vector<uint64_t>> Finish() override { return *session_.result; }
};

class UnmaskState final : public ServerState {
 public:
  using ServerState::ServerState;
  std::string StateName() const override { return "Unmask"; }
  v1::SecAggPhase phase() const override { return v1::PHASE_UNMASK; }

  absl::Status Accept(int i, const v1::SecAggResponse& message) override {
    if (!message.has_unmask()) return WrongPhase(message);
    const v1::UnmaskResponse& response = message.unmask();
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    if (!s.survivors.contains(i)) {
      return absl::FailedPreconditionError("unmask response from a site that was not asked");
    }
    RETURN_IF_ERROR(CheckDigest(response.context_digest()));
    SiteSet owners;
    for (const v1::RevealedShare& share : response.shares()) {
      std::optional<int> owner = p.IndexOf(share.owner());
      if (!owner.has_value() || !owners.insert(*owner).second) {
        return Fault(v1::MALFORMED,
                     absl::StrCat("unknown or repeated share owner \"", share.owner(), "\""));
      }
      const bool holds = *owner == i || s.linked[i].contains(*owner);
      size_t size = 0;
      if (s.survivors.contains(*owner) && share.kind() == v1::SELF_MASK_SEED && holds) {
        size = kSelfMaskSeedSize;
      } else if (s.needed_dropouts.contains(*owner) && share.kind() == v1::MASK_KEY &&
                 holds && *owner != i) {
        size = kMaskKeySize;
      } else {
        return Fault(v1::MALFORMED,
                     absl::StrCat("share of kind ", v1::ShareKind_Name(share.kind()), " of \"",
                                  share.owner(), "\" was not requested from this site"));
      }
      RETURN_IF_ERROR(CheckShare(share.share(), RoundParams::ShareX(i), size));
    }
    s.sites[i].revealed.assign(response.shares().begin(), response.shares().end());
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<uint64_t>> Finish() override {
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    constexpr v1::SecAggPhase kPhase = v1::PHASE_UNMASK;
    for (int i : s.survivors) {
      if (!s.sites[i].answered) {
        s.unmask_faults.emplace(p.Name(i), DropInfo{v1::MISSING_MESSAGE, kPhase,
                                                    "no unmask response"});
        util::LogWarn(s.log(p.Name(i)), "secure aggregation: no unmask response");
      }
    }
    // Never both secrets of one site: asserted again before any reconstruction.
    for (int d : s.needed_dropouts) {
      if (s.survivors.contains(d)) {
        return absl::InternalError(absl::StrCat("secure aggregation: \"", p.Name(d),
                                                "\" is both survivor and dropout"));
      }
    }
    absl::btree_map<int, std::vector<crypto::ShamirShare>> seed_shares, key_shares;
    for (int holder : s.survivors) {
      if (s.unmask_faults.contains(p.Name(holder))) continue;
      for (const v1::RevealedShare& share : s.sites[holder].revealed) {
        const int owner = *p.IndexOf(share.owner());
        auto& into = share.kind() == v1::SELF_MASK_SEED ? seed_shares : key_shares;
        into[owner].push_back(FromProto(share.share()));
      }
    }
    auto reconstruct = [&](int owner, std::vector<crypto::ShamirShare>& shares, size_t size,
                           absl::string_view what) -> absl::StatusOr<crypto::SecretData> {
      if (static_cast<int>(shares.size()) < p.threshold()) {
        return s.Abort(kPhase, absl::StrCat("only ", shares.size(), " shares of the ", what,
                                            " of \"", p.Name(owner), "\", threshold ",
                                            p.threshold()));
      }
      absl::StatusOr<crypto::SecretData> secret =
          crypto::ShamirReconstruct(shares, p.threshold(), size);
      for (crypto::ShamirShare& share : shares) WipeShare(share);
      if (!secret.ok()) {
        return s.Abort(kPhase, absl::StrCat("the ", what, " of \"", p.Name(owner),
                                            "\" does not reconstruct: ",
                                            secret.status().message()));
      }
      return secret;
    };

    // One blocked pass over the sum: the survivors' packed inputs, minus
    // their self masks, minus or plus the dropouts' pairwise masks
    // (crypto/prg.h, MaskAccumulator).
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::MaskAccumulator> sum,
                     crypto::MaskAccumulator::New(p.vector_length(), p.bits()));
    for (int i : s.survivors) RETURN_IF_ERROR(sum->AddPacked(s.sites[i].masked_input));
    for (int i : s.survivors) {
      ASSIGN_OR_RETURN(crypto::SecretData seed, reconstruct(i, seed_shares[i], kSelfMaskSeedSize,
                                                            "self-mask seed"));
      RETURN_IF_ERROR(sum->AddMask(seed, /*subtract=*/true));
    }
    for (int d : s.needed_dropouts) {
      ASSIGN_OR_RETURN(crypto::SecretData key_bytes,
                       reconstruct(d, key_shares[d], kMaskKeySize, "mask key"));
      ASSIGN_OR_RETURN(std::unique_ptr<crypto::X25519PrivateKey> key,
                       crypto::X25519PrivateKey::FromBytes(key_bytes));
      if (key->public_key() != s.sites[d].keys.mask_public_key) {
        (void)s.Abort(kPhase, absl::StrCat("the reconstructed mask key of \"", p.Name(d),
                                           "\" does not match its advertised public key"));
        return absl::DataLossError(absl::StrCat("secure aggregation: reconstructed mask key of \"",
                                                p.Name(d), "\" is wrong (bad shares)"));
      }
      for (int i : s.linked[d]) {
        if (!s.survivors.contains(i)) continue;
        ASSIGN_OR_RETURN(crypto::SecretData seed,
                         p.DerivePairwiseSeed(*key, s.sites[i].keys.mask_public_key, p.Name(d),
                                              p.Name(i)));
        // Survivor i added the mask if i < d and subtracted it otherwise.
        RETURN_IF_ERROR(sum->AddMask(seed, /*subtract=*/i < d));
      }
    }
    ASSIGN_OR_RETURN(std::vector<uint64_t> unmasked, sum->Sum());
    util::LogInfo(s.log(), absl::StrCat("secure aggregation: unmasked the sum of ",
                                        s.survivors.size(), " inputs (",
                                        s.needed_dropouts.size(),
                                        " dropped sites' masks removed)"));
    s.result = unmasked;
    return unmasked;
  }
};

class MaskedInputState final : public ServerState {
 public:
  using ServerState::ServerState;
  std::string StateName() const override { return "MaskedInput"; }
  v1::SecAggPhase phase() const override { return v1::PHASE_MASKED_INPUT; }

  absl::Status Accept(int i, const v1::SecAggResponse& message) override {
    if (!message.has_masked_input()) return WrongPhase(message);
    const v1::MaskedInput& input = message.masked_input();
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    RETURN_IF_ERROR(CheckDigest(input.context_digest()));
    // Kept packed (Proceed moves the bytes out of the accepted message):
    // Finish adds straight from them.
    if (absl::Status packed = CheckPackedValues(input.packed_values(), p.bits(),
                                                p.vector_length());
        !packed.ok()) {
      return Fault(v1::MALFORMED, absl::StrCat("masked input: ", packed.message()));
    }
    std::vector<std::pair<int, DropInfo>> complaints;
    for (const v1::Complaint& c : input.complaints()) {
      std::optional<int> about = p.IndexOf(c.site());
      if (!about.has_value() || !s.linked[i].contains(*about)) {
        return Fault(v1::MALFORMED,
                     absl::StrCat("complaint about \"", c.site(), "\", not a share sender"));
      }
      if (c.reason() == v1::DROP_REASON_UNSPECIFIED || !v1::DropReason_IsValid(c.reason())) {
        return Fault(v1::MALFORMED, "complaint without a valid reason");
      }
      complaints.emplace_back(*about, DropInfo{c.reason(), phase(),
                                               absl::StrCat("reported by \"", p.Name(i),
                                                            "\": ", c.detail())});
    }
    s.sites[i].complaints = std::move(complaints);
    return absl::OkStatus();
  }

  absl::StatusOr<Next> Proceed() override {
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    constexpr v1::SecAggPhase kPhase = v1::PHASE_MASKED_INPUT;
    const SiteSet& shared = s.shared;
    s.DropSilent(kPhase);
    // A site that could not decrypt a neighbour's shares did not mask with
    // it and holds none of its shares: cut the pair and drop the accused.
    for (int i : shared) {
      if (!s.sites[i].answered) continue;
      for (auto& [j, info] : s.sites[i].complaints) {
        s.linked[i].erase(j);
        s.linked[j].erase(i);
        s.Drop(j, info.reason, info.phase, info.message);
      }
    }
    s.survivors = s.Live();
    for (int i : s.survivors) {
      // Taken over, not copied (4 MB per site at d = 10^6).
      s.sites[i].masked_input =
          std::move(*s.sites[i].accepted.mutable_masked_input()->mutable_packed_values());
    }
    for (int d : shared) {
      if (s.survivors.contains(d)) continue;
      for (int i : s.linked[d]) {
        if (s.survivors.contains(i)) {
          s.needed_dropouts.insert(d);
          break;
        }
      }
    }
    // Decide now whether the sum can be unmasked; if not, abort before any
    // share is requested.
    RETURN_IF_ERROR(s.CheckEnoughLive(kPhase));
    for (int i : s.survivors) {
      int holders = 1;
      for (int j : s.linked[i]) holders += s.survivors.contains(j) ? 1 : 0;
      if (holders < p.threshold()) {
        return s.Abort(kPhase, absl::StrCat("only ", holders, " surviving holders of the shares of \"",
                                            p.Name(i), "\", threshold ", p.threshold()));
      }
    }
    for (int d : s.needed_dropouts) {
      int holders = 0;
      for (int j : s.linked[d]) holders += s.survivors.contains(j) ? 1 : 0;
      if (holders < p.threshold()) {
        return s.Abort(kPhase, absl::StrCat("only ", holders,
                                            " surviving holders of the mask key of dropped \"",
                                            p.Name(d), "\", threshold ", p.threshold()));
      }
    }
    v1::UnmaskRequest request;
    request.set_context_digest(p.digest());
    for (int i : s.survivors) request.add_survivors(p.Name(i));
    for (int d : s.needed_dropouts) request.add_dropouts(p.Name(d));
    RequestMap requests;
    for (int i : s.survivors) *requests[p.Name(i)].mutable_unmask() = request;
    s.ResetAnswers();
    util::LogInfo(s.log(), absl::StrCat("secure aggregation: ", s.survivors.size(),
                                        " masked inputs; asking for shares (",
                                        s.needed_dropouts.size(), " dropouts to unmask)"));
    return Next{std::make_unique<UnmaskState>(s), std::move(requests)};
  }
};

class ShareKeysState final : public ServerState {
 public:
  using ServerState::ServerState;
  std::string StateName() const override { return "ShareKeys"; }
  v1::SecAggPhase phase() const override { return v1::PHASE_SHARE_KEYS; }

  absl::Status Accept(int i, const v1::SecAggResponse& message) override {
    if (!message.has_share_keys()) return WrongPhase(message);
    const v1::ShareKeysResponse& response = message.share_keys();
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    RETURN_IF_ERROR(CheckDigest(response.context_digest()));
    absl::btree_map<int, std::string> ciphertexts;
    for (const v1::EncryptedShare& share : response.shares()) {
      if (!share.sender().empty() && share.sender() != p.Name(i)) {
        return Fault(v1::REPLAYED_OR_MISBOUND,
                     absl::StrCat("ciphertext claims sender \"", share.sender(), "\""));
      }
      std::optional<int> to = p.IndexOf(share.recipient());
      if (!to.has_value() || *to == i || !p.graph().AreNeighbours(i, *to) ||
          !s.advertised.contains(*to)) {
        return Fault(v1::MALFORMED, absl::StrCat("ciphertext for \"", share.recipient(),
                                                 "\", not a neighbour with valid keys"));
      }
      if (share.ciphertext().size() < crypto::kAesGcmNonceSize + crypto::kAesGcmTagSize) {
        return Fault(v1::MALFORMED, absl::StrCat("ciphertext for \"", share.recipient(),
                                                 "\" is too short"));
      }
      if (!ciphertexts.emplace(*to, share.ciphertext()).second) {
        return Fault(v1::MALFORMED,
                     absl::StrCat("two ciphertexts for \"", share.recipient(), "\""));
      }
    }
    if (1 + static_cast<int>(ciphertexts.size()) < p.threshold()) {
      return Fault(v1::MALFORMED, absl::StrCat("shares for ", ciphertexts.size(),
                                               " neighbours: fewer than the threshold needs"));
    }
    s.sites[i].ciphertexts = std::move(ciphertexts);
    return absl::OkStatus();
  }

  absl::StatusOr<Next> Proceed() override {
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    constexpr v1::SecAggPhase kPhase = v1::PHASE_SHARE_KEYS;
    s.DropSilent(kPhase);
    // A pair is linked when each sent the other its shares: both accepted
    // the other's advertisement.
    auto link = [&] {
      s.linked.assign(p.size(), SiteSet());
      for (int i : s.Live()) {
        for (const auto& [j, ciphertext] : s.sites[i].ciphertexts) {
          if (s.sites[j].live && s.sites[j].ciphertexts.contains(i)) s.linked[i].insert(j);
        }
      }
    };
    link();
    s.PruneNeighbourhoods(s.linked, kPhase);
    link();
    RETURN_IF_ERROR(s.CheckEnoughLive(kPhase));
    s.shared = s.Live();
    RequestMap requests;
    for (int i : s.shared) {
      v1::MaskedInputRequest& request = *requests[p.Name(i)].mutable_masked_input();
      request.set_context_digest(p.digest());
      for (int j : s.linked[i]) {
        v1::EncryptedShare* share = request.add_shares();
        share->set_sender(p.Name(j));
        share->set_recipient(p.Name(i));
        share->set_ciphertext(s.sites[j].ciphertexts.at(i));
      }
    }
    s.ResetAnswers();
    return Next{std::make_unique<MaskedInputState>(s), std::move(requests)};
  }
};

class AdvertiseKeysState final : public ServerState {
 public:
  using ServerState::ServerState;
  std::string StateName() const override { return "AdvertiseKeys"; }
  v1::SecAggPhase phase() const override { return v1::PHASE_ADVERTISE_KEYS; }

  absl::Status Accept(int i, const v1::SecAggResponse& message) override {
    if (!message.has_advertise_keys()) return WrongPhase(message);
    ServerSession& s = session_;
    ASSIGN_OR_RETURN(s.sites[i].keys,
                     VerifyAdvertisement(s.p(), s.p().Name(i), message.advertise_keys(),
                                         *s.certificates, s.clock->Now()));
    s.sites[i].advertisement = message.advertise_keys();
    return absl::OkStatus();
  }

  absl::StatusOr<Next> Proceed() override {
    ServerSession& s = session_;
    const RoundParams& p = s.p();
    constexpr v1::SecAggPhase kPhase = v1::PHASE_ADVERTISE_KEYS;
    s.DropSilent(kPhase);
    std::vector<SiteSet> graph(p.size());
    for (int i = 0; i < p.size(); ++i) {
      graph[i].insert(p.graph().Neighbours(i).begin(), p.graph().Neighbours(i).end());
    }
    s.PruneNeighbourhoods(graph, kPhase);
    RETURN_IF_ERROR(s.CheckEnoughLive(kPhase));
    s.advertised = s.Live();
    RequestMap requests;
    for (int i : s.advertised) {
      v1::ShareKeysRequest& request = *requests[p.Name(i)].mutable_share_keys();
      *request.mutable_context() = p.context();
      for (int j : p.graph().Neighbours(i)) {
        if (s.sites[j].live) *request.add_neighbours() = s.sites[j].advertisement;
      }
    }
    s.ResetAnswers();
    return Next{std::make_unique<ShareKeysState>(s), std::move(requests)};
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<SecAggServer>> SecAggServer::Create(
    const v1::SecAggContext& context, std::string ca_pem, const util::Clock& clock) {
  ASSIGN_OR_RETURN(std::shared_ptr<crypto::CertificateVerifier> certificates,
                   crypto::CertificateVerifier::New(ca_pem));
  return Create(context, std::move(certificates), clock);
}

absl::StatusOr<std::unique_ptr<SecAggServer>> SecAggServer::Create(
    const v1::SecAggContext& context, std::shared_ptr<crypto::CertificateVerifier> certificates,
    const util::Clock& clock) {
  if (certificates == nullptr) {
    return absl::InvalidArgumentError("secure aggregation server: no certificate verifier");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const RoundParams> params, RoundParams::Create(context));
  auto session = std::make_unique<ServerSession>();
  session->sites.resize(params->size());
  session->params = std::move(params);
  session->certificates = std::move(certificates);
  session->clock = &clock;
  auto state = std::make_unique<AdvertiseKeysState>(*session);
  return std::unique_ptr<SecAggServer>(new SecAggServer(std::move(session), std::move(state)));
}

SecAggServer::SecAggServer(std::unique_ptr<ServerSession> session,
                           std::unique_ptr<ServerState> state)
    : session_(std::move(session)), state_(std::move(state)) {}

SecAggServer::~SecAggServer() = default;

absl::Status SecAggServer::Handle(absl::string_view site, const v1::SecAggResponse& message) {
  return Handle(site, v1::SecAggResponse(message));
}

absl::Status SecAggServer::Handle(absl::string_view site, v1::SecAggResponse&& message) {
  ServerSession& s = *session_;
  std::optional<int> i = s.p().IndexOf(site);
  if (!i.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("secure aggregation: \"", site, "\" is not a participant"));
  }
  ServerSiteRecord& record = s.sites[*i];
  if (!state_->accepting()) return state_->Accept(*i, message);  // the state's error
  if (!record.live) {
    const DropInfo& info = s.dropped.at(std::string(site));
    return absl::FailedPreconditionError(absl::StrCat(
        "secure aggregation: \"", site, "\" was dropped (", DropReasonName(info.reason), ")"));
  }
  if (record.answered) {
    // Serialized only now: a second message in one phase is rare, and the
    // first one's bytes are not kept (4 MB for a masked input).
    if (message.SerializeAsString() == record.accepted.SerializeAsString()) {
      return absl::OkStatus();  // redelivery
    }
    absl::Status fault = Fault(v1::MALFORMED, "a second, different message in one phase");
    if (state_->phase() == v1::PHASE_UNMASK) {
      return fault;  // the first answer stands
    }
    s.Drop(*i, v1::MALFORMED, state_->phase(), fault.message());
    return fault;
  }
  absl::Status accepted = state_->Accept(*i, message);
  if (accepted.ok()) {
    record.answered = true;
    record.accepted = std::move(message);
    return accepted;
  }
  v1::DropReason reason = DropReasonOf(accepted);
  if (reason == v1::DROP_REASON_UNSPECIFIED) return accepted;  // not this phase's message
  if (state_->phase() == v1::PHASE_UNMASK) {
    // Too late to drop: the input is in the sum. Only the shares are lost.
    record.answered = true;
    s.unmask_faults.emplace(std::string(site),
                            DropInfo{reason, v1::PHASE_UNMASK, std::string(accepted.message())});
    util::LogWarn(s.log(site), absl::StrCat("secure aggregation: unmask response rejected (",
                                            DropReasonName(reason), "): ", accepted.message()));
    return accepted;
  }
  s.Drop(*i, reason, state_->phase(), accepted.message());
  return accepted;
}

absl::Status SecAggServer::HandleAdvertiseKeys(absl::string_view site,
                                               const v1::AdvertiseKeys& message) {
  v1::SecAggResponse wrapped;
  *wrapped.mutable_advertise_keys() = message;
  return Handle(site, std::move(wrapped));
}

absl::Status SecAggServer::HandleShareKeysResponse(absl::string_view site,
                                                   const v1::ShareKeysResponse& message) {
  v1::SecAggResponse wrapped;
  *wrapped.mutable_share_keys() = message;
  return Handle(site, std::move(wrapped));
}

absl::Status SecAggServer::HandleMaskedInput(absl::string_view site,
                                             const v1::MaskedInput& message) {
  v1::SecAggResponse wrapped;
  *wrapped.mutable_masked_input() = message;
  return Handle(site, std::move(wrapped));
}

absl::Status SecAggServer::HandleUnmaskResponse(absl::string_view site,
                                                const v1::UnmaskResponse& message) {
  v1::SecAggResponse wrapped;
  *wrapped.mutable_unmask() = message;
  return Handle(site, std::move(wrapped));
}

absl::StatusOr<RequestMap> SecAggServer::StartNextPhase() {
  const v1::SecAggPhase phase = state_->phase();
  absl::StatusOr<ServerState::Next> next = state_->Proceed();
  if (!next.ok()) {
    if (!session_->abort_reason.empty() && state_->accepting()) {
      state_ = std::make_unique<AbortedState>(*session_, phase);
    }
    return next.status();
  }
  state_ = std::move(next->state);
  return std::move(next->requests);
}

absl::StatusOr<std::vector<uint64_t>> SecAggServer::Finish() {
  const v1::SecAggPhase phase = state_->phase();
  absl::StatusOr<std::vector<uint64_t>> result = state_->Finish();
  if (!result.ok()) {
    if (!session_->abort_reason.empty() && state_->accepting()) {
      state_ = std::make_unique<AbortedState>(*session_, phase);
    }
    return result.status();
  }
  if (state_->accepting()) state_ = std::make_unique<CompletedState>(*session_);
  return result;
}

std::string SecAggServer::StateName() const { return state_->StateName(); }
v1::SecAggPhase SecAggServer::phase() const { return state_->phase(); }
bool SecAggServer::aborted() const { return !session_->abort_reason.empty(); }
const std::string& SecAggServer::abort_reason() const { return session_->abort_reason; }

const absl::btree_map<std::string, DropInfo>& SecAggServer::dropped() const {
  return session_->dropped;
}

std::vector<std::string> SecAggServer::survivors() const {
  std::vector<std::string> out;
  for (int i : session_->Live()) out.push_back(session_->p().Name(i));
  return out;
}

const absl::btree_map<std::string, DropInfo>& SecAggServer::unmask_faults() const {
  return session_->unmask_faults;
}

std::vector<std::string> SecAggServer::pending() const {
  std::vector<std::string> out;
  if (!state_->accepting()) return out;
  for (int i : session_->Live()) {
    const ServerSiteRecord& record = session_->sites[i];
    if (state_->phase() == v1::PHASE_UNMASK && !session_->survivors.contains(i)) continue;
    if (!record.answered) out.push_back(session_->p().Name(i));
  }
  return out;
}

}  // namespace cohort::secagg
