// `cohort`: the operator CLI. Each command group registers itself here; see
// tools/command.h for how subcommands hand their work back to main.
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "tools/audit_command.h"
#include "tools/command.h"
#include "tools/pki_command.h"
#include "tools/privacy_command.h"
#include "tools/study_command.h"

int main(int argc, char** argv) {
  CLI::App app{"Operate a Cohort federated-learning consortium", "cohort"};
  app.require_subcommand(1);

  cohort::tools::CommandAction action;
  cohort::tools::RegisterPkiCommands(app, action);
  cohort::tools::RegisterStudyCommands(app, action);
  cohort::tools::RegisterPrivacyCommands(app, action);
  cohort::tools::RegisterAuditCommands(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports usage errors (and --help) by exception; this is the only
    // place one is caught. Help exits 0, every usage error exits 1.
    return app.exit(e) == 0 ? 0 : 1;
  }
  if (!action) {
    std::cerr << app.help();
    return 1;
  }
  if (absl::Status status = action(); !status.ok()) {
    std::cerr << "cohort: error: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
