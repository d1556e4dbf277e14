// Test fixture support: a throwaway consortium in a temporary folder — a PKI
// made with Cohort's own crypto library, the heart-disease example plan and
// site configs rendered from examples/heart-disease, and helpers to start the
// real cohort-coordinator and cohort-site binaries on loopback (port 0).
#ifndef COHORT_TESTS_INTEGRATION_CONSORTIUM_H_
#define COHORT_TESTS_INTEGRATION_CONSORTIUM_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tests/integration/subprocess.h"

namespace cohort::testing {

std::string SourceDir();  // repository root (COHORT_SOURCE_DIR)
std::string BinDir();     // built binaries (COHORT_BIN_DIR)

class Consortium {
 public:
  // Creates a fresh folder and a PKI with certificates for the coordinator
  // (localhost) and for the four heart-disease sites plus `extra_sites`.
  explicit Consortium(const std::vector<std::string>& extra_sites = {});
  ~Consortium();

  const std::string& dir() const { return dir_; }

  // Writes the plan: the example plan with top-level scalar fields replaced
  // (e.g. {"rounds", "5"}). Returns its SHA-256.
  std::string WritePlan(const std::map<std::string, std::string>& overrides = {});
  const std::string& plan_sha256() const { return plan_sha256_; }
  std::string plan_path() const { return dir_ + "/plan.yaml"; }

  // Starts the coordinator and waits for its port. Fails the test on timeout.
  void StartCoordinator(const std::map<std::string, std::string>& overrides = {});
  Subprocess& coordinator() { return *coordinator_; }
  int port() const { return port_; }

  // Renders examples/heart-disease/sites/<template_site>.yaml for `site`,
  // then applies literal text replacements; returns the config path.
  std::string WriteSiteConfig(const std::string& site,
                              const std::map<std::string, std::string>& replace = {},
                              const std::string& template_site = "");
  std::string config_path(const std::string& site) const {
    return dir_ + "/config/" + site + ".yaml";
  }
  // Starts a site agent (with --exit-when-done) using the given config.
  Subprocess& StartSite(const std::string& site, const std::string& config_path);
  Subprocess& site(const std::string& site) { return *sites_.at(site); }

  // Issues a certificate for `name` from a different, unrelated CA.
  void IssueFromForeignCa(const std::string& name, const std::string& cert_path,
                          const std::string& key_path);

  // A site agent's state folder (as the example site configs set it).
  std::string SiteStateDir(const std::string& site) const { return dir_ + "/sites/" + site; }

  std::string SummaryPath(const std::string& study = "heart-disease") const;
  nlohmann::json Summary(const std::string& study = "heart-disease") const;

 private:
  std::string dir_;
  std::string plan_sha256_;
  int port_ = 0;
  std::unique_ptr<Subprocess> coordinator_;
  std::map<std::string, std::unique_ptr<Subprocess>> sites_;
};

}  // namespace cohort::testing

#endif  // COHORT_TESTS_INTEGRATION_CONSORTIUM_H_
