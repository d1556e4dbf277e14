// How the `cohort` CLI's command groups plug into its main.
//
// Each group (pki, study; later status, audit, privacy) lives in its own file
// and exposes one `Register<Group>Commands(CLI::App&, CommandAction&)`. It adds
// its subcommands to the app; when CLI11 selects one of them, the subcommand's
// CLI11 callback stores the work to do in the CommandAction. cohort_main.cc
// runs that action only after parsing has finished, prints a failed status to
// stderr and exits 1. So CLI11's exceptions stay inside argument parsing, and
// the commands themselves report errors as absl::Status naming the file or
// flag at fault.
#ifndef COHORT_TOOLS_COMMAND_H_
#define COHORT_TOOLS_COMMAND_H_

#include <functional>

#include "absl/status/status.h"

namespace cohort::tools {

// The selected subcommand's work, bound to its parsed flags. Empty until a
// subcommand is selected.
using CommandAction = std::function<absl::Status()>;

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_COMMAND_H_
