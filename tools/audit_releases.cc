#include "tools/audit_releases.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/privacy/accountant.h"

namespace cohort::tools {
namespace {

using privacy::PrivacyEvent;

const nlohmann::json* Field(const nlohmann::json& body, absl::string_view key) {
  if (!body.is_object()) return nullptr;
  auto it = body.find(std::string(key));
  return it == body.end() ? nullptr : &*it;
}

std::string ScalarText(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number() || j.is_boolean()) return j.dump();
  return "?";
}

// One logged event, or why it is unreadable ("events[1].count: ...").
absl::StatusOr<PrivacyEvent> ReadEvent(const nlohmann::json& e, size_t index) {
  const std::string where = absl::StrCat("events[", index, "]");
  if (!e.is_object()) return absl::InvalidArgumentError(where + ": not an object");
  PrivacyEvent event;
  const std::string mechanism = BodyText(e, "mechanism");
  if (mechanism == "gaussian") {
    event.mechanism = PrivacyEvent::Mechanism::kGaussian;
  } else if (mechanism == "discrete_gaussian_sum") {
    event.mechanism = PrivacyEvent::Mechanism::kDiscreteGaussianSum;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".mechanism: unknown \"", mechanism, "\""));
  }
  auto number = [&](absl::string_view key, double& out, bool required) -> absl::Status {
    if (std::optional<double> v = BodyNumber(e, key)) {
      out = *v;
    } else if (required || Field(e, key) != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": missing or not a number"));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = number("sampling_rate", event.sampling_rate, true); !s.ok()) return s;
  if (absl::Status s = number("noise_multiplier", event.noise_multiplier, true); !s.ok()) return s;
  if (absl::Status s = number("rdp_slack", event.rdp_slack, false); !s.ok()) return s;
  std::optional<int64_t> count = BodyInteger(e, "count");
  if (!count) return absl::InvalidArgumentError(where + ".count: missing or not an integer");
  event.count = *count;
  return event;
}

absl::StatusOr<std::vector<PrivacyEvent>> ReadEvents(const nlohmann::json& privacy) {
  const nlohmann::json* events = Field(privacy, "events");
  if (events == nullptr || !events->is_array() || events->empty()) {
    return absl::InvalidArgumentError("privacy.events: missing or empty");
  }
  std::vector<PrivacyEvent> out;
  for (size_t i = 0; i < events->size(); ++i) {
    absl::StatusOr<PrivacyEvent> event = ReadEvent((*events)[i], i);
    if (!event.ok()) return event.status();
    out.push_back(*event);
  }
  return out;
}

// The study's ceiling: a number, or an object with "epsilon".
std::optional<double> Ceiling(const nlohmann::json& privacy) {
  if (std::optional<double> c = BodyNumber(privacy, "ceiling")) return c;
  if (const nlohmann::json* c = Field(privacy, "ceiling")) return BodyNumber(*c, "epsilon");
  return std::nullopt;
}

bool Agree(double logged, double recomputed) {
  if (logged == recomputed) return true;  // also both +infinity
  if (!std::isfinite(logged) || !std::isfinite(recomputed)) return false;
  return std::abs(logged - recomputed) <=
         kEpsilonRelativeTolerance * std::max(std::abs(logged), std::abs(recomputed));
}

// Per study: the events of its releases so far, or why they cannot be
// composed any more.
struct StudyEvents {
  std::vector<PrivacyEvent> events;
  std::string broken;
};

void CheckPrivacy(const nlohmann::json& privacy, StudyEvents& study, Release& r) {
  r.delta = BodyNumber(privacy, "delta");
  r.ceiling = Ceiling(privacy);
  r.logged_epsilon = BodyNumber(privacy, "study_epsilon_after");
  if (!study.broken.empty()) {
    r.problem = study.broken;
    return;
  }
  absl::StatusOr<std::vector<PrivacyEvent>> events = ReadEvents(privacy);
  if (!events.ok()) {
    r.problem = absl::StrCat("cannot recompute: ", events.status().message());
    study.broken = absl::StrCat("cannot recompute: the events of entry ", r.seq,
                                " of this study are unreadable");
    return;
  }
  study.events.insert(study.events.end(), events->begin(), events->end());
  if (!r.delta) {
    r.problem = "cannot recompute: privacy.delta missing or not a number";
    return;
  }
  absl::StatusOr<privacy::EpsilonBound> bound = privacy::Epsilon(study.events, *r.delta);
  if (!bound.ok()) {
    r.problem = absl::StrCat("cannot recompute: ", bound.status().message());
    return;
  }
  r.recomputed_epsilon = bound->epsilon;
  r.accountant = std::string(privacy::AccountantName(bound->accountant));
  if (!r.logged_epsilon) {
    r.problem = "privacy.study_epsilon_after missing or not a number";
  } else if (!Agree(*r.logged_epsilon, bound->epsilon)) {
    r.problem = absl::StrFormat(
        "logged study epsilon %.12g, but the study's logged events compose to %.12g",
        *r.logged_epsilon, bound->epsilon);
  } else if (r.ceiling && bound->epsilon > *r.ceiling * (1 + kEpsilonRelativeTolerance)) {
    r.problem = absl::StrFormat(
        "study epsilon %.12g after this release is above the site's ceiling of %.12g",
        bound->epsilon, *r.ceiling);
  }
}

}  // namespace

std::string BodyText(const nlohmann::json& body, absl::string_view key) {
  const nlohmann::json* v = Field(body, key);
  if (v == nullptr) return "?";
  if (!v->is_array()) return ScalarText(*v);
  std::string joined;
  for (const nlohmann::json& item : *v) {
    absl::StrAppend(&joined, joined.empty() ? "" : ", ", ScalarText(item));
  }
  return joined;
}

std::optional<double> BodyNumber(const nlohmann::json& body, absl::string_view key) {
  const nlohmann::json* v = Field(body, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  double parsed = 0;
  if (v->is_string() && absl::SimpleAtod(v->get<std::string>(), &parsed) && !std::isnan(parsed)) {
    return parsed;
  }
  return std::nullopt;
}

std::optional<int64_t> BodyInteger(const nlohmann::json& body, absl::string_view key) {
  const nlohmann::json* v = Field(body, key);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX}) return std::nullopt;
  return v->get<int64_t>();
}

std::vector<Release> ReadReleases(const std::vector<audit::Entry>& entries) {
  std::vector<Release> releases;
  std::map<std::string, StudyEvents> studies;
  for (const audit::Entry& e : entries) {
    if (e.type != "result_sent") continue;
    Release r;
    r.seq = e.seq;
    r.time = e.time;
    r.study = BodyText(e.body, "study");
    r.task = BodyText(e.body, "task_id");
    r.kind = BodyText(e.body, "kind");
    r.sha256 = BodyText(e.body, "sha256");
    r.round = BodyInteger(e.body, "round");
    r.bytes = BodyInteger(e.body, "bytes");
    if (const nlohmann::json* privacy = Field(e.body, "privacy");
        privacy != nullptr && !privacy->is_null()) {
      r.is_private = true;
      CheckPrivacy(*privacy, studies[r.study], r);
    }
    releases.push_back(std::move(r));
  }
  return releases;
}

}  // namespace cohort::tools
