#include "tools/pki_command.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/util/status_macros.h"
#include "crypto/files.h"
#include "crypto/pki.h"

namespace cohort::tools {
namespace {

using crypto::Credential;
using crypto::Role;

constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;
constexpr int kMaxDays = 36500;
// Certificates start this long before "now" so that a peer whose clock runs a
// little behind still accepts a freshly issued one.
constexpr absl::Duration kClockSkewAllowance = absl::Hours(1);

// Validity window for a certificate issued at `now`: from `days_ago` days
// back (less the skew allowance) until `days` days after that start.
struct Validity {
  absl::Time not_before;
  absl::Duration duration;
};

Validity ValidityFor(absl::Time now, int days, int days_ago) {
  return {now - absl::Hours(24) * days_ago - kClockSkewAllowance,
          absl::Hours(24) * days + kClockSkewAllowance};
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::ErrnoToStatus(ec.value(), absl::StrCat(dir, ": cannot create directory"));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat(dir, ": exists but is not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PathExists(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return absl::ErrnoToStatus(errno, absl::StrCat(path, ": cannot check whether it exists"));
}

// Writes the key before the certificate: a crash in between leaves an unused
// key, never a certificate whose key is missing.
absl::Status WriteCredential(const Credential& credential, const std::string& cert_path,
                             const std::string& key_path) {
  RETURN_IF_ERROR(crypto::WriteFileAtomically(key_path, credential.key_pem, kKeyMode));
  return crypto::WriteFileAtomically(cert_path, credential.cert_pem, kCertMode);
}

// ----------------------------------------------------------------- pki init

struct InitOptions {
  std::string dir;
  std::string consortium = "cohort";
  int days = 3650;
  bool force = false;
};

absl::Status RunInit(const InitOptions& options, absl::Time now) {
  const std::string cert_path = JoinPath(options.dir, "ca.crt");
  const std::string key_path = JoinPath(options.dir, "ca.key");
  if (!options.force) {
    for (const std::string& path : {cert_path, key_path}) {
      ASSIGN_OR_RETURN(bool exists, PathExists(path));
      if (exists) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, " already exists; refusing to overwrite the consortium CA, which "
                  "would invalidate every certificate it issued (pass --force to "
                  "replace it)"));
      }
    }
  }
  const Validity validity = ValidityFor(now, options.days, 0);
  absl::StatusOr<Credential> ca = crypto::CreateCertificateAuthority(
      options.consortium, validity.not_before, validity.duration);
  if (!ca.ok()) {
    return absl::Status(ca.status().code(),
                        absl::StrCat("--consortium: ", ca.status().message()));
  }
  RETURN_IF_ERROR(EnsureDirectory(options.dir));
  RETURN_IF_ERROR(WriteCredential(*ca, cert_path, key_path));
  std::cout << "Created the CA for consortium \"" << options.consortium << "\"\n"
            << "  certificate: " << cert_path << " (distribute to every site)\n"
            << "  private key: " << key_path
            << " (mode 0600; keep it offline, it can mint any identity)\n";
  return absl::OkStatus();
}

// ---------------------------------------------------------------- pki issue

struct IssueOptions {
  Role role = Role::kSite;
  std::string name;
  std::string dir;
  std::vector<std::string> extra_sans;
  int days = 365;
  int not_before_days_ago = 0;
};

absl::string_view SubdirectoryFor(Role role) {
  switch (role) {
    case Role::kSite:
      return "sites";
    case Role::kCoordinator:
      return "coordinator";
    case Role::kAdmin:
      return "admins";
  }
  return "other";
}

absl::StatusOr<Credential> ReadCa(const std::string& dir) {
  Credential ca;
  for (auto [file, field] : {std::pair{"ca.crt", &ca.cert_pem}, std::pair{"ca.key", &ca.key_pem}}) {
    const std::string path = JoinPath(dir, file);
    absl::StatusOr<std::string> contents = crypto::ReadFile(path);
    if (absl::IsNotFound(contents.status())) {
      return absl::NotFoundError(absl::StrCat(
          path, " not found; create the CA first with `cohort pki init --dir ", dir, "`"));
    }
    if (!contents.ok()) return contents.status();
    *field = *std::move(contents);
  }
  return ca;
}

absl::Status RunIssue(const IssueOptions& options, absl::Time now) {
  // Validate the name before it becomes part of a path.
  if (absl::Status status = crypto::ValidateEntityName(options.name); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        crypto::RoleName(options.role), " ",
        options.role == Role::kCoordinator ? "HOSTNAME" : "NAME", ": ", status.message()));
  }
  ASSIGN_OR_RETURN(Credential ca, ReadCa(options.dir));

  std::vector<std::string> hostnames;
  if (options.role == Role::kCoordinator) {
    hostnames.push_back(options.name);
    hostnames.insert(hostnames.end(), options.extra_sans.begin(), options.extra_sans.end());
    if (options.name == "localhost") {
      hostnames.push_back("127.0.0.1");
      hostnames.push_back("::1");
    }
  }

  const Validity validity = ValidityFor(now, options.days, options.not_before_days_ago);
  absl::StatusOr<Credential> credential =
      crypto::IssueCertificate(ca, options.role, options.name, hostnames,
                               validity.not_before, validity.duration);
  if (!credential.ok()) {
    return absl::Status(credential.status().code(),
                        absl::StrCat("issuing ", crypto::RoleName(options.role),
                                     " certificate \"", options.name, "\" with the CA in ",
                                     options.dir, ": ", credential.status().message()));
  }

  const std::string subdir = JoinPath(options.dir, std::string(SubdirectoryFor(options.role)));
  const std::string cert_path = JoinPath(subdir, options.name + ".crt");
  const std::string key_path = JoinPath(subdir, options.name + ".key");
  RETURN_IF_ERROR(EnsureDirectory(subdir));
  RETURN_IF_ERROR(WriteCredential(*credential, cert_path, key_path));

  std::cout << "Issued " << crypto::RoleName(options.role) << " certificate for \""
            << options.name << "\", valid until "
            << FormatUtc(validity.not_before + validity.duration) << "\n"
            << "  certificate: " << cert_path << "\n"
            << "  private key: " << key_path << " (mode 0600)\n";
  if (!hostnames.empty()) {
    std::cout << "  hostnames:   " << absl::StrJoin(hostnames, ", ") << "\n";
  }
  // Not an error (tests issue expired certificates on purpose), but an
  // operator should learn now, not at the first TLS handshake.
  if (absl::Status check = crypto::VerifyCertificateChain(credential->cert_pem, ca.cert_pem, now);
      !check.ok()) {
    std::cerr << "cohort: warning: the new certificate does not verify now: "
              << check.message() << "\n";
  }
  return absl::OkStatus();
}

// ----------------------------------------------------------------- pki show

absl::Status RunShow(const std::string& cert_path, absl::Time now) {
  ASSIGN_OR_RETURN(std::string pem, crypto::ReadFile(cert_path));
  absl::StatusOr<crypto::CertificateInfo> info = crypto::DescribeCertificate(pem);
  if (!info.ok()) {
    return absl::Status(info.status().code(),
                        absl::StrCat(cert_path, ": ", info.status().message()));
  }
  std::string role = "none";
  std::string name = "-";
  if (info->is_ca) {
    role = "certificate authority";
  } else if (absl::StatusOr<crypto::PeerIdentity> identity =
                 crypto::IdentityFromCertificatePem(pem);
             identity.ok()) {
    role = std::string(crypto::RoleName(identity->role));
    name = identity->name;
  } else {
    role = absl::StrCat("none (", identity.status().message(), ")");
  }
  std::string state = "valid";
  if (now < info->not_before) state = "not yet valid";
  if (now > info->not_after) state = "expired";

  std::cout << "file:        " << cert_path << "\n"
            << "role:        " << role << "\n"
            << "name:        " << name << "\n"
            << "subject:     " << info->subject << "\n"
            << "issuer:      " << info->issuer << "\n"
            << "SANs:        "
            << (info->subject_alt_names.empty() ? "-"
                                                : absl::StrJoin(info->subject_alt_names, ", "))
            << "\n"
            << "not before:  " << FormatUtc(info->not_before) << "\n"
            << "not after:   " << FormatUtc(info->not_after) << " (" << state << " now)\n"
            << "serial:      " << info->serial_hex << "\n"
            << "sha256:      " << info->sha256_fingerprint_hex << "\n";
  return absl::OkStatus();
}

// ------------------------------------------------------------- registration

void RegisterIssue(CLI::App& issue, Role role, CommandAction& selected) {
  auto options = std::make_shared<IssueOptions>();
  options->role = role;
  const bool coordinator = role == Role::kCoordinator;
  CLI::App* sub = issue.add_subcommand(
      std::string(crypto::RoleName(role)),
      role == Role::kSite          ? "Issue a site's client certificate"
      : role == Role::kCoordinator ? "Issue the coordinator's server certificate"
                                   : "Issue an administrator's client certificate");
  sub->add_option(coordinator ? "hostname" : "name", options->name,
                  coordinator ? "Hostname sites dial; also the coordinator's identity name"
                              : "Name: 1-64 characters of [a-z0-9._-]")
      ->required();
  sub->add_option("--dir", options->dir, "PKI directory holding ca.crt and ca.key")
      ->required();
  sub->add_option("--days", options->days, "Validity in days")
      ->check(CLI::Range(1, kMaxDays))
      ->capture_default_str();
  if (coordinator) {
    sub->add_option("--san", options->extra_sans,
                    "Extra DNS name or IP address for the certificate (repeatable)");
  }
  // Testing only: back-date the certificate to make it expired or short-lived.
  sub->add_option("--not-before-days-ago", options->not_before_days_ago)
      ->check(CLI::Range(0, kMaxDays))
      ->group("");
  sub->callback([&selected, options] {
    selected = [options] { return RunIssue(*options, absl::Now()); };
  });
}

}  // namespace

void RegisterPkiCommands(CLI::App& app, CommandAction& selected) {
  CLI::App* pki = app.add_subcommand("pki", "Consortium certificate authority and credentials");
  pki->require_subcommand(1);

  auto init = std::make_shared<InitOptions>();
  CLI::App* init_cmd = pki->add_subcommand("init", "Create the consortium CA");
  init_cmd->add_option("--dir", init->dir, "Directory for ca.crt and ca.key")->required();
  init_cmd->add_option("--consortium", init->consortium, "Consortium name (CA organization)")
      ->capture_default_str();
  init_cmd->add_option("--days", init->days, "CA validity in days")
      ->check(CLI::Range(1, kMaxDays))
      ->capture_default_str();
  init_cmd->add_flag("--force", init->force, "Replace an existing CA");
  init_cmd->callback([&selected, init] {
    selected = [init] { return RunInit(*init, absl::Now()); };
  });

  CLI::App* issue = pki->add_subcommand("issue", "Issue a certificate signed by the CA");
  issue->require_subcommand(1);
  for (Role role : {Role::kSite, Role::kCoordinator, Role::kAdmin}) {
    RegisterIssue(*issue, role, selected);
  }

  auto cert_path = std::make_shared<std::string>();
  CLI::App* show = pki->add_subcommand("show", "Describe a certificate");
  show->add_option("cert", *cert_path, "Certificate file (PEM)")->required();
  show->callback([&selected, cert_path] {
    selected = [cert_path] { return RunShow(*cert_path, absl::Now()); };
  });
}

}  // namespace cohort::tools
