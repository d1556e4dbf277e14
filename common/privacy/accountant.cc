#include "common/privacy/accountant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/privacy/log_math.h"
#include "common/privacy/pld.h"
#include "common/privacy/rdp.h"
#include "common/util/status_macros.h"

namespace cohort::privacy {
namespace {

using Mechanism = PrivacyEvent::Mechanism;

constexpr double kInf = std::numeric_limits<double>::infinity();

// PLD grid spacing. Connect-the-dots moves each loss to its two neighbouring
// grid points, adding variance of about interval * E|L| per step; against
// the loss's own variance q^2 (e^(1/sigma^2) - 1) that stays negligible when
// interval <= kIntervalPerSpread * q * sqrt(e^(1/sigma^2) - 1) (measured:
// epsilon within 0.05% of its limit as interval -> 0). Coarser spacing is
// forced only to bound memory and FFT time (a 2^20-point real FFT takes
// tens of milliseconds).
constexpr double kIntervalPerSpread = 0.05;
constexpr double kMaxInterval = 1e-3;
constexpr double kTargetComposedPoints = 1 << 19;
constexpr double kMaxStepPoints = 1 << 20;
constexpr int64_t kMaxComposedPoints = int64_t{1} << 22;
// The PLD works with e^loss; past this the doubles overflow.
constexpr double kMaxPldLoss = 600;
// Share of delta that the PLD may spend on mass it cuts off the grid (all of
// it counted as infinity mass): half on the per-step Gaussian tails, a
// quarter on each side of the composed window.
constexpr double kTruncationShareOfDelta = 1e-4;

absl::Status Invalid(absl::string_view field, absl::string_view requirement, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be ", requirement, ", got ", value));
}

absl::Status ValidateDelta(double delta) {
  if (!(delta > 0 && delta < 1)) return Invalid("delta", "in (0, 1)", delta);
  return absl::OkStatus();
}

absl::Status ValidateSamplingRate(absl::string_view field, double q) {
  if (!(q > 0 && q <= 1)) return Invalid(field, "in (0, 1]", q);
  return absl::OkStatus();
}

absl::Status ValidateNoiseMultiplier(absl::string_view field, double sigma) {
  if (!(sigma > 0) || !std::isfinite(sigma)) return Invalid(field, "finite and > 0", sigma);
  return absl::OkStatus();
}

absl::Status ValidateEvents(absl::Span<const PrivacyEvent> events) {
  if (events.empty()) return absl::InvalidArgumentError("events: must not be empty");
  for (size_t i = 0; i < events.size(); ++i) {
    const PrivacyEvent& e = events[i];
    const std::string at = absl::StrCat("events[", i, "].");
    if (e.mechanism != Mechanism::kGaussian && e.mechanism != Mechanism::kDiscreteGaussianSum) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "mechanism: unknown value ", static_cast<int>(e.mechanism)));
    }
    RETURN_IF_ERROR(ValidateSamplingRate(at + "sampling_rate", e.sampling_rate));
    RETURN_IF_ERROR(ValidateNoiseMultiplier(at + "noise_multiplier", e.noise_multiplier));
    if (!(e.rdp_slack >= 0) || !std::isfinite(e.rdp_slack)) {
      return Invalid(at + "rdp_slack", "finite and >= 0", e.rdp_slack);
    }
    if (e.count < 1) {
      return absl::InvalidArgumentError(absl::StrCat(at, "count: must be >= 1, got ", e.count));
    }
  }
  return absl::OkStatus();
}

// Events of the same kind with their counts added, in order of first
// appearance: composing {count = a} and {count = b} is {count = a + b}, and
// each kind is then evaluated (and, for the PLD, transformed) once.
absl::StatusOr<std::vector<PrivacyEvent>> MergeEvents(absl::Span<const PrivacyEvent> events) {
  std::vector<PrivacyEvent> merged;
  for (const PrivacyEvent& e : events) {
    auto same = std::find_if(merged.begin(), merged.end(), [&](const PrivacyEvent& m) {
      return m.mechanism == e.mechanism && m.sampling_rate == e.sampling_rate &&
             m.noise_multiplier == e.noise_multiplier && m.rdp_slack == e.rdp_slack;
    });
    if (same == merged.end()) {
      merged.push_back(e);
    } else if (same->count > std::numeric_limits<int64_t>::max() - e.count) {
      return absl::InvalidArgumentError("events: total count overflows int64");
    } else {
      same->count += e.count;
    }
  }
  return merged;
}

double EventRdp(const PrivacyEvent& e, double order) {
  if (e.mechanism == Mechanism::kGaussian) {
    return SampledGaussianRdp(e.sampling_rate, e.noise_multiplier, order);
  }
  return DiscreteGaussianSumRdp(e.sampling_rate, e.noise_multiplier, e.rdp_slack, order);
}

// The composed RDP curve on DefaultRdpOrders().
std::vector<double> ComposedRdp(absl::Span<const PrivacyEvent> merged) {
  absl::Span<const double> orders = DefaultRdpOrders();
  std::vector<double> rdp(orders.size(), 0.0);
  for (const PrivacyEvent& e : merged) {
    for (size_t i = 0; i < orders.size(); ++i) {
      rdp[i] += static_cast<double>(e.count) * EventRdp(e, orders[i]);
    }
  }
  return rdp;
}

// Where the composed privacy loss lies, roughly, to size the PLD grid: above
// by the Chernoff bound the RDP curve gives (E[e^((a-1) L)] = e^((a-1) D_a)),
// below by as far again under 0 (the loss's mean, KL, is >= 0) but no
// further than log(truncation) (E[e^-L] <= 1). Only sizes the grid;
// ComposePlds finds the window it needs itself.
double ComposedLossSpan(absl::Span<const PrivacyEvent> merged, double truncation) {
  absl::Span<const double> orders = DefaultRdpOrders();
  const std::vector<double> rdp = ComposedRdp(merged);
  double upper = kInf;
  for (size_t i = 0; i < orders.size(); ++i) {
    upper = std::min(upper, rdp[i] - std::log(truncation) / (orders[i] - 1));
  }
  return upper - std::max(std::log(truncation), -upper);
}

}  // namespace

absl::string_view AccountantName(AccountantKind accountant) {
  switch (accountant) {
    case AccountantKind::kRdp:
      return "rdp";
    case AccountantKind::kPld:
      return "pld";
  }
  return "unknown";
}

absl::StatusOr<double> RdpEpsilon(absl::Span<const PrivacyEvent> events, double delta) {
  RETURN_IF_ERROR(ValidateEvents(events));
  RETURN_IF_ERROR(ValidateDelta(delta));
  ASSIGN_OR_RETURN(const std::vector<PrivacyEvent> merged, MergeEvents(events));
  return RdpCurveToEpsilon(DefaultRdpOrders(), ComposedRdp(merged), delta).epsilon;
}

absl::StatusOr<double> PldEpsilon(absl::Span<const PrivacyEvent> events, double delta) {
  RETURN_IF_ERROR(ValidateEvents(events));
  RETURN_IF_ERROR(ValidateDelta(delta));
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i].mechanism != Mechanism::kGaussian) {
      return absl::InvalidArgumentError(
          absl::StrCat("events[", i,
                       "].mechanism: the PLD accountant supports only kGaussian; "
                       "use the RDP accountant for kDiscreteGaussianSum"));
    }
  }
  ASSIGN_OR_RETURN(const std::vector<PrivacyEvent> merged, MergeEvents(events));

  double total_count = 0;
  // With no subsampling both directions have the same PLD, N(1/(2 sigma^2),
  // 1/sigma^2) per step, and one is enough.
  bool all_unsampled = true;
  for (const PrivacyEvent& e : merged) {
    total_count += static_cast<double>(e.count);
    all_unsampled = all_unsampled && e.sampling_rate == 1;
  }
  const double budget = kTruncationShareOfDelta * delta;
  const double step_tail = std::min(0.25, budget / 2 / total_count);
  const double truncation = budget / 4;

  std::vector<PldDirection> directions = {PldDirection::kRemove};
  if (!all_unsampled) directions.push_back(PldDirection::kAdd);
  double interval = kMaxInterval;
  double step_span = 0;
  for (const PrivacyEvent& e : merged) {
    const double q = e.sampling_rate, sigma = e.noise_multiplier;
    for (PldDirection direction : directions) {
      const LossRange range = SampledGaussianLossRange(q, sigma, direction, step_tail);
      if (std::max(-range.lo, range.hi) > kMaxPldLoss) {
        return absl::OutOfRangeError(
            absl::StrCat("noise_multiplier ", sigma,
                         " is too small for the PLD accountant (privacy losses beyond e^",
                         kMaxPldLoss, "); use the RDP accountant"));
      }
      step_span = std::max(step_span, range.hi - range.lo);
    }
    // sqrt(e^(1/sigma^2) - 1); +inf (no constraint) for tiny sigma.
    const double spread = std::sqrt(std::expm1(1 / (sigma * sigma)));
    interval = std::min(interval, kIntervalPerSpread * q * spread);
  }
  interval = std::max({interval, ComposedLossSpan(merged, truncation) / kTargetComposedPoints,
                       step_span / kMaxStepPoints});

  for (int attempt = 0; attempt < 8; ++attempt, interval *= 2) {
    double epsilon = 0;
    bool too_large = false;
    for (PldDirection direction : directions) {
      std::vector<DiscretePld> plds;
      plds.reserve(merged.size());
      for (const PrivacyEvent& e : merged) {
        plds.push_back(DiscretizeSampledGaussian(e.sampling_rate, e.noise_multiplier, direction,
                                                 interval, step_tail));
      }
      std::vector<PldFactor> factors;
      for (size_t i = 0; i < merged.size(); ++i) factors.push_back({&plds[i], merged[i].count});
      absl::StatusOr<DiscretePld> composed = ComposePlds(factors, truncation, kMaxComposedPoints);
      if (composed.status().code() == absl::StatusCode::kResourceExhausted) {
        too_large = true;
        break;
      }
      RETURN_IF_ERROR(composed.status());
      epsilon = std::max(epsilon, composed->EpsilonForDelta(delta));
    }
    if (!too_large) return epsilon;
  }
  return absl::ResourceExhaustedError(
      "the PLD of this composition is too wide to compute; use the RDP accountant");
}

absl::StatusOr<EpsilonBound> Epsilon(absl::Span<const PrivacyEvent> events, double delta) {
  ASSIGN_OR_RETURN(const double rdp, RdpEpsilon(events, delta));
  EpsilonBound best{rdp, AccountantKind::kRdp};
  const bool all_gaussian = std::all_of(events.begin(), events.end(), [](const PrivacyEvent& e) {
    return e.mechanism == Mechanism::kGaussian;
  });
  if (!all_gaussian) return best;
  absl::StatusOr<double> pld = PldEpsilon(events, delta);
  // The PLD cannot represent every composition (tiny noise); RDP still can.
  if (pld.ok() && *pld < best.epsilon) best = {*pld, AccountantKind::kPld};
  return best;
}

absl::StatusOr<double> NoiseMultiplierFor(double epsilon, double delta, double sampling_rate,
                                          int64_t steps, AccountantKind accountant) {
  if (!(epsilon > 0) || !std::isfinite(epsilon))
    return Invalid("epsilon", "finite and > 0", epsilon);
  RETURN_IF_ERROR(ValidateDelta(delta));
  RETURN_IF_ERROR(ValidateSamplingRate("sampling_rate", sampling_rate));
  if (steps < 1)
    return absl::InvalidArgumentError(absl::StrCat("steps: must be >= 1, got ", steps));
  if (accountant != AccountantKind::kRdp && accountant != AccountantKind::kPld) {
    return absl::InvalidArgumentError("accountant: unknown value");
  }

  // Whether `sigma` meets the target. A PLD too wide to represent (tiny
  // sigma) counts as not meeting it.
  auto meets = [&](double sigma) -> absl::StatusOr<bool> {
    const PrivacyEvent event{
        .sampling_rate = sampling_rate, .noise_multiplier = sigma, .count = steps};
    absl::StatusOr<double> eps = accountant == AccountantKind::kRdp
                                     ? RdpEpsilon({&event, 1}, delta)
                                     : PldEpsilon({&event, 1}, delta);
    if (eps.status().code() == absl::StatusCode::kOutOfRange ||
        eps.status().code() == absl::StatusCode::kResourceExhausted) {
      return false;
    }
    RETURN_IF_ERROR(eps.status());
    return *eps <= epsilon;
  };

  // Bracket: meets(hi) and !meets(lo), doubling or halving from 1.
  constexpr double kMinSigma = 1e-3, kMaxSigma = 1e6;
  double lo = 1, hi = 1;
  ASSIGN_OR_RETURN(bool ok, meets(1.0));
  if (ok) {
    for (;;) {
      lo = hi / 2;
      if (lo < kMinSigma) return hi;
      ASSIGN_OR_RETURN(ok, meets(lo));
      if (!ok) break;
      hi = lo;
    }
  } else {
    for (;;) {
      lo = hi;
      hi *= 2;
      if (hi > kMaxSigma) {
        return absl::OutOfRangeError(absl::StrCat("no noise_multiplier up to ", kMaxSigma,
                                                  " meets epsilon ", epsilon, " at delta ", delta));
      }
      ASSIGN_OR_RETURN(ok, meets(hi));
      if (ok) break;
    }
  }
  // Bisection in log(sigma) until hi is within 1e-3 of lo; hi meets the target.
  while (hi > lo * (1 + 1e-3)) {
    const double mid = std::sqrt(lo * hi);
    ASSIGN_OR_RETURN(ok, meets(mid));
    (ok ? hi : lo) = mid;
  }
  return hi;
}

}  // namespace cohort::privacy
