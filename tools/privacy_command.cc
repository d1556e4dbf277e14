#include "tools/privacy_command.h"

#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/privacy/accountant.h"
#include "common/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace cohort::tools {
namespace {

using privacy::AccountantKind;

struct EpsilonOptions {
  double sampling_rate = 0;
  double noise_multiplier = 0;
  int64_t steps = 0;
  double delta = 0;
  std::string accountant;  // Empty: the tighter one.
  bool json = false;
};

struct NoiseOptions {
  double epsilon = 0;
  double delta = 0;
  double sampling_rate = 0;
  int64_t steps = 0;
  std::string accountant;  // Empty: the one needing less noise.
  bool json = false;
};

absl::Status FlagError(absl::string_view flag, absl::string_view requirement, double value) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": must be ", requirement, ", got ", value));
}

// The flags the library would reject, reported by their CLI names.
absl::Status CheckSamplingRate(double q) {
  if (!(q > 0 && q <= 1)) return FlagError("--sampling-rate", "in (0, 1]", q);
  return absl::OkStatus();
}
absl::Status CheckDelta(double delta) {
  if (!(delta > 0 && delta < 1)) return FlagError("--delta", "in (0, 1)", delta);
  return absl::OkStatus();
}
absl::Status CheckSteps(int64_t steps) {
  if (steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--steps: must be >= 1, got ", steps));
  }
  return absl::OkStatus();
}

std::optional<AccountantKind> ParseAccountant(const std::string& name) {
  if (name == "rdp") return AccountantKind::kRdp;
  if (name == "pld") return AccountantKind::kPld;
  return std::nullopt;  // Unreachable: CLI11 checks membership.
}

absl::Status RunEpsilon(const EpsilonOptions& o) {
  RETURN_IF_ERROR(CheckSamplingRate(o.sampling_rate));
  if (!(o.noise_multiplier > 0) || !std::isfinite(o.noise_multiplier)) {
    return FlagError("--noise-multiplier", "finite and > 0", o.noise_multiplier);
  }
  RETURN_IF_ERROR(CheckSteps(o.steps));
  RETURN_IF_ERROR(CheckDelta(o.delta));

  const privacy::PrivacyEvent event{
      .sampling_rate = o.sampling_rate, .noise_multiplier = o.noise_multiplier, .count = o.steps};
  privacy::EpsilonBound bound;
  if (std::optional<AccountantKind> kind = ParseAccountant(o.accountant)) {
    absl::StatusOr<double> eps = *kind == AccountantKind::kRdp
                                     ? privacy::RdpEpsilon({&event, 1}, o.delta)
                                     : privacy::PldEpsilon({&event, 1}, o.delta);
    RETURN_IF_ERROR(eps.status());
    bound = {*eps, *kind};
  } else {
    ASSIGN_OR_RETURN(bound, privacy::Epsilon({&event, 1}, o.delta));
  }
  const std::string accountant(privacy::AccountantName(bound.accountant));
  if (o.json) {
    nlohmann::ordered_json out;
    out["epsilon"] = bound.epsilon;
    out["delta"] = o.delta;
    out["accountant"] = accountant;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "epsilon = %.4f at delta = %g (%s accountant; sampling rate %g, noise multiplier %g, "
        "%d steps)\n",
        bound.epsilon, o.delta, accountant, o.sampling_rate, o.noise_multiplier, o.steps);
  }
  return absl::OkStatus();
}

absl::Status RunNoise(const NoiseOptions& o) {
  if (!(o.epsilon > 0) || !std::isfinite(o.epsilon)) {
    return FlagError("--epsilon", "finite and > 0", o.epsilon);
  }
  RETURN_IF_ERROR(CheckDelta(o.delta));
  RETURN_IF_ERROR(CheckSamplingRate(o.sampling_rate));
  RETURN_IF_ERROR(CheckSteps(o.steps));

  AccountantKind used = AccountantKind::kRdp;
  double sigma = 0;
  if (std::optional<AccountantKind> kind = ParseAccountant(o.accountant)) {
    used = *kind;
    ASSIGN_OR_RETURN(
        sigma, privacy::NoiseMultiplierFor(o.epsilon, o.delta, o.sampling_rate, o.steps, used));
  } else {
    ASSIGN_OR_RETURN(sigma, privacy::NoiseMultiplierFor(o.epsilon, o.delta, o.sampling_rate,
                                                        o.steps, AccountantKind::kRdp));
    // Both bounds are valid, so the smaller noise multiplier meets the target.
    absl::StatusOr<double> pld = privacy::NoiseMultiplierFor(o.epsilon, o.delta, o.sampling_rate,
                                                             o.steps, AccountantKind::kPld);
    if (pld.ok() && *pld < sigma) {
      sigma = *pld;
      used = AccountantKind::kPld;
    }
  }
  const std::string accountant(privacy::AccountantName(used));
  if (o.json) {
    nlohmann::ordered_json out;
    out["noise_multiplier"] = sigma;
    out["epsilon"] = o.epsilon;
    out["delta"] = o.delta;
    out["sampling_rate"] = o.sampling_rate;
    out["steps"] = o.steps;
    out["accountant"] = accountant;
    std::cout << out.dump() << "\n";
  } else {
    std::cout << absl::StrFormat(
        "noise multiplier %.4f keeps %d steps at sampling rate %g within epsilon = %g at "
        "delta = %g (%s accountant)\n",
        sigma, o.steps, o.sampling_rate, o.epsilon, o.delta, accountant);
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterPrivacyCommands(CLI::App& app, CommandAction& selected) {
  CLI::App* group = app.add_subcommand("privacy", "Differential-privacy accounting");
  group->require_subcommand(1);
  const std::string accountant_help =
      "rdp (Rényi DP) or pld (privacy loss distribution); default: the tighter";

  auto eps = std::make_shared<EpsilonOptions>();
  CLI::App* epsilon = group->add_subcommand(
      "epsilon", "Epsilon spent by Poisson-subsampled Gaussian steps (DP-SGD, DP-FedAvg)");
  epsilon->add_option("--sampling-rate", eps->sampling_rate, "Poisson sampling rate q in (0, 1]")
      ->required();
  epsilon
      ->add_option("--noise-multiplier", eps->noise_multiplier,
                   "Noise standard deviation / L2 sensitivity")
      ->required();
  epsilon->add_option("--steps", eps->steps, "Number of noisy releases")->required();
  epsilon->add_option("--delta", eps->delta, "Target delta in (0, 1)")->required();
  epsilon->add_option("--accountant", eps->accountant, accountant_help)
      ->check(CLI::IsMember({"rdp", "pld"}));
  epsilon->add_flag("--json", eps->json, "Print JSON");
  epsilon->callback([&selected, eps] { selected = [eps] { return RunEpsilon(*eps); }; });

  auto noise_options = std::make_shared<NoiseOptions>();
  CLI::App* noise = group->add_subcommand(
      "noise", "Smallest noise multiplier meeting an (epsilon, delta) target");
  noise->add_option("--epsilon", noise_options->epsilon, "Target epsilon > 0")->required();
  noise->add_option("--delta", noise_options->delta, "Target delta in (0, 1)")->required();
  noise
      ->add_option("--sampling-rate", noise_options->sampling_rate,
                   "Poisson sampling rate q in (0, 1]")
      ->required();
  noise->add_option("--steps", noise_options->steps, "Number of noisy releases")->required();
  noise->add_option("--accountant", noise_options->accountant, accountant_help)
      ->check(CLI::IsMember({"rdp", "pld"}));
  noise->add_flag("--json", noise_options->json, "Print JSON");
  noise->callback([&selected, noise_options] {
    selected = [noise_options] { return RunNoise(*noise_options); };
  });
}

}  // namespace cohort::tools
