// `cohort study ...`: study plans.
//
//   cohort study hash PLAN.yaml
//       prints "<sha256 hex>  PLAN.yaml", the same line sha256sum prints.
//       Hospitals pin an approved plan by this hash, so it covers the file's
//       exact bytes; nothing is parsed or normalised.
#ifndef COHORT_TOOLS_STUDY_COMMAND_H_
#define COHORT_TOOLS_STUDY_COMMAND_H_

#include "tools/command.h"

namespace CLI {
class App;
}  // namespace CLI

namespace cohort::tools {

// Adds the `study` command group to `app`; see command.h for `selected`.
void RegisterStudyCommands(CLI::App& app, CommandAction& selected);

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_STUDY_COMMAND_H_
