// `cohort privacy ...`: the differential-privacy accountant
// (common/privacy/accountant.h) for privacy officers planning a study.
//
//   cohort privacy epsilon --sampling-rate Q --noise-multiplier SIGMA --steps T --delta D
//                          [--accountant rdp|pld] [--json]
//       The epsilon spent by T Poisson-subsampled Gaussian releases. Without
//       --accountant, the tighter of the two (privacy::Epsilon()).
//       --json prints {"epsilon":E,"delta":D,"accountant":"rdp|pld"}.
//   cohort privacy noise --epsilon E --delta D --sampling-rate Q --steps T
//                        [--accountant rdp|pld] [--json]
//       The smallest noise multiplier (within 0.1%, rounded up) that keeps T
//       such releases within (E, D). Without --accountant, the smaller of the
//       two accountants' answers. --json prints {"noise_multiplier":S,
//       "epsilon":E,"delta":D,"sampling_rate":Q,"steps":T,"accountant":"..."}.
//
// A bad value exits 1 with a message naming the flag.
#ifndef COHORT_TOOLS_PRIVACY_COMMAND_H_
#define COHORT_TOOLS_PRIVACY_COMMAND_H_

#include "tools/command.h"

namespace CLI {
class App;
}  // namespace CLI

namespace cohort::tools {

// Adds the `privacy` command group to `app`; see command.h for `selected`.
void RegisterPrivacyCommands(CLI::App& app, CommandAction& selected);

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_PRIVACY_COMMAND_H_
