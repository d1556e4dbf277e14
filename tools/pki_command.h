// `cohort pki ...`: the consortium PKI on disk.
//
//   cohort pki init --dir DIR [--consortium NAME] [--days N] [--force]
//       DIR/ca.crt (0644), DIR/ca.key (0600)
//   cohort pki issue site NAME --dir DIR [--days N]
//       DIR/sites/NAME.crt, DIR/sites/NAME.key
//   cohort pki issue coordinator HOSTNAME --dir DIR [--san EXTRA]... [--days N]
//       DIR/coordinator/HOSTNAME.crt/.key
//   cohort pki issue admin NAME --dir DIR [--days N]
//       DIR/admins/NAME.crt/.key
//   cohort pki show CERT
//
// Keys are written with mode 0600 and certificates with 0644, each atomically
// (crypto/files.h). The certificate profiles are in crypto/pki.h.
#ifndef COHORT_TOOLS_PKI_COMMAND_H_
#define COHORT_TOOLS_PKI_COMMAND_H_

#include "tools/command.h"

namespace CLI {
class App;
}  // namespace CLI

namespace cohort::tools {

// Adds the `pki` command group to `app`; see command.h for `selected`.
void RegisterPkiCommands(CLI::App& app, CommandAction& selected);

}  // namespace cohort::tools

#endif  // COHORT_TOOLS_PKI_COMMAND_H_
