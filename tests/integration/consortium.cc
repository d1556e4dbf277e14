#include "tests/integration/consortium.h"

#include <cstdlib>
#include <filesystem>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "crypto/files.h"
#include "crypto/pki.h"
#include "crypto/sha256.h"
#include "gtest/gtest.h"

namespace cohort::testing {
namespace {

const std::vector<std::string> kSites = {"cleveland", "hungarian", "switzerland", "va"};

void WriteCredential(const crypto::Credential& c, const std::string& cert,
                     const std::string& key) {
  std::filesystem::create_directories(std::filesystem::path(cert).parent_path());
  ASSERT_TRUE(crypto::WriteFileAtomically(cert, c.cert_pem, 0644).ok());
  ASSERT_TRUE(crypto::WriteFileAtomically(key, c.key_pem, 0600).ok());
}

}  // namespace

std::string SourceDir() {
  // ctest runs tests in the source root; COHORT_SOURCE_DIR overrides.
  const char* dir = std::getenv("COHORT_SOURCE_DIR");
  return dir != nullptr ? std::string(dir) : std::filesystem::current_path().string();
}

std::string BinDir() {
  const char* dir = std::getenv("COHORT_BIN_DIR");
  return dir != nullptr ? dir : "build/bin";
}

Consortium::Consortium(const std::vector<std::string>& extra_sites) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cohort-it.XXXXXX").string();
  dir_ = mkdtemp(tmpl.data());
  const absl::Time now = absl::Now() - absl::Hours(1);
  auto ca = crypto::CreateCertificateAuthority("Cohort test consortium", now, absl::Hours(48));
  EXPECT_TRUE(ca.ok()) << ca.status();
  WriteCredential(*ca, dir_ + "/pki/ca.crt", dir_ + "/pki/ca.key");
  auto coord = crypto::IssueCertificate(*ca, crypto::Role::kCoordinator, "localhost",
                                        {"localhost", "127.0.0.1"}, now, absl::Hours(48));
  EXPECT_TRUE(coord.ok()) << coord.status();
  WriteCredential(*coord, dir_ + "/pki/coordinator/localhost.crt",
                  dir_ + "/pki/coordinator/localhost.key");
  std::vector<std::string> all = kSites;
  all.insert(all.end(), extra_sites.begin(), extra_sites.end());
  for (const auto& s : all) {
    auto cred = crypto::IssueCertificate(*ca, crypto::Role::kSite, s, {}, now, absl::Hours(48));
    EXPECT_TRUE(cred.ok()) << cred.status();
    WriteCredential(*cred, dir_ + "/pki/sites/" + s + ".crt", dir_ + "/pki/sites/" + s + ".key");
  }
  std::filesystem::create_directories(dir_ + "/logs");
  std::filesystem::create_directories(dir_ + "/config");
}

Consortium::~Consortium() {
  for (auto& [name, site] : sites_) site->Signal(SIGKILL);
  if (coordinator_) coordinator_->Signal(SIGKILL);
  sites_.clear();
  coordinator_.reset();
  if (!::testing::Test::HasFailure()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  } else {
    std::cerr << "test state kept in " << dir_ << "\n";
  }
}

std::string Consortium::WritePlan(const std::map<std::string, std::string>& overrides) {
  auto text = crypto::ReadFile(SourceDir() + "/examples/heart-disease/plan.yaml");
  EXPECT_TRUE(text.ok()) << text.status();
  std::string plan = *text;
  for (const auto& [key, value] : overrides) {
    std::regex line("(^|\n)" + key + ":[^\n]*");
    EXPECT_TRUE(std::regex_search(plan, line)) << "plan has no field " << key;
    plan = std::regex_replace(plan, line, "$1" + key + ": " + value);
  }
  EXPECT_TRUE(crypto::WriteFileAtomically(plan_path(), plan, 0644).ok());
  plan_sha256_ = crypto::Sha256Hex(plan);
  return plan_sha256_;
}

void Consortium::StartCoordinator(const std::map<std::string, std::string>& overrides) {
  auto text = crypto::ReadFile(SourceDir() + "/examples/heart-disease/coordinator.yaml");
  ASSERT_TRUE(text.ok()) << text.status();
  std::string config = absl::StrReplaceAll(*text, {{"@STATE_DIR@", dir_}});
  for (const auto& [key, value] : overrides) {
    std::regex line("(^|\n)" + key + ":[^\n]*");
    config = std::regex_replace(config, line, "$1" + key + ": " + value);
  }
  const std::string path = dir_ + "/config/coordinator.yaml";
  ASSERT_TRUE(crypto::WriteFileAtomically(path, config, 0644).ok());
  const std::string port_file = dir_ + "/coordinator/port";
  std::filesystem::remove(port_file);
  coordinator_ = std::make_unique<Subprocess>();
  coordinator_->Start({BinDir() + "/cohort-coordinator", "--config", path},
                      dir_ + "/logs/coordinator.log");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    std::string port = ReadFileOrEmpty(port_file);
    if (!port.empty() && port.back() == '\n') {
      port_ = std::stoi(port);
      return;
    }
    ASSERT_TRUE(coordinator_->running()) << "coordinator exited:\n" << coordinator_->Log();
    ASSERT_FALSE(coordinator_->WaitForExit(absl::Now()).has_value())
        << "coordinator exited:\n" << coordinator_->Log();
    ASSERT_LT(absl::Now(), deadline) << "coordinator did not start:\n" << coordinator_->Log();
    absl::SleepFor(absl::Milliseconds(20));
  }
}

std::string Consortium::WriteSiteConfig(const std::string& site,
                                        const std::map<std::string, std::string>& replace,
                                        const std::string& template_site) {
  const std::string from = template_site.empty() ? site : template_site;
  auto text = crypto::ReadFile(SourceDir() + "/examples/heart-disease/sites/" + from + ".yaml");
  EXPECT_TRUE(text.ok()) << text.status();
  std::string config = absl::StrReplaceAll(
      *text, {{"@STATE_DIR@", dir_},
              {"@EXAMPLE_DIR@", SourceDir() + "/examples/heart-disease"},
              {"@PLAN_SHA256@", plan_sha256_},
              {"@COORDINATOR_PORT@", absl::StrCat(port_)}});
  if (from != site) {
    config = absl::StrReplaceAll(config, {{"site: " + from, "site: " + site},
                                          {"sites/" + from + ".", "sites/" + site + "."},
                                          {"sites/" + from + "\"", "sites/" + site + "\""}});
  }
  for (const auto& [a, b] : replace) {
    EXPECT_NE(config.find(a), std::string::npos) << "site config has no text " << a;
    config = absl::StrReplaceAll(config, {{a, b}});
  }
  const std::string path = dir_ + "/config/" + site + ".yaml";
  EXPECT_TRUE(crypto::WriteFileAtomically(path, config, 0644).ok());
  return path;
}

Subprocess& Consortium::StartSite(const std::string& site, const std::string& config_path) {
  auto process = std::make_unique<Subprocess>();
  process->Start({BinDir() + "/cohort-site", "--config", config_path, "--exit-when-done"},
                 dir_ + "/logs/site-" + site + ".log");
  Subprocess& ref = *process;
  sites_[site] = std::move(process);
  return ref;
}

void Consortium::IssueFromForeignCa(const std::string& name, const std::string& cert_path,
                                    const std::string& key_path) {
  const absl::Time now = absl::Now() - absl::Hours(1);
  auto ca = crypto::CreateCertificateAuthority("Somebody else", now, absl::Hours(48));
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto cred = crypto::IssueCertificate(*ca, crypto::Role::kSite, name, {}, now, absl::Hours(48));
  ASSERT_TRUE(cred.ok()) << cred.status();
  WriteCredential(*cred, cert_path, key_path);
}

std::string Consortium::SummaryPath(const std::string& study) const {
  return dir_ + "/coordinator/studies/" + study + "/summary.json";
}

nlohmann::json Consortium::Summary(const std::string& study) const {
  std::string text = ReadFileOrEmpty(SummaryPath(study));
  auto j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "summary.json does not parse:\n" << text;
  return j;
}

}  // namespace cohort::testing
