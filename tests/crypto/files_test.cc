#include "crypto/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cohort::crypto {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/files_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  mode_t ModeOf(const std::string& path) {
    struct stat st = {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  std::vector<std::string> DirEntries() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  std::string dir_;
};

// Sets the process umask for the scope of a test.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(saved_); }

 private:
  mode_t saved_;
};

TEST_F(FilesTest, KeyModeIs0600EvenUnderPermissiveUmask) {
  ScopedUmask umask(0);
  const std::string path = dir_ + "/site.key";
  ASSERT_TRUE(WriteFileAtomically(path, "secret", 0600).ok());
  EXPECT_EQ(ModeOf(path), 0600u);
}

TEST_F(FilesTest, CertModeIs0644EvenUnderStrictUmask) {
  ScopedUmask umask(077);
  const std::string path = dir_ + "/site.crt";
  ASSERT_TRUE(WriteFileAtomically(path, "public", 0644).ok());
  EXPECT_EQ(ModeOf(path), 0644u);
  absl::StatusOr<std::string> contents = ReadFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, "public");
}

TEST_F(FilesTest, OverwriteReplacesContentsModeAndLeavesNoTemporaryFiles) {
  const std::string path = dir_ + "/ca.crt";
  ASSERT_TRUE(WriteFileAtomically(path, "first version, longer", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second", 0600).ok());
  EXPECT_EQ(*ReadFile(path), "second");
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_THAT(DirEntries(), ElementsAre("ca.crt"));
}

TEST_F(FilesTest, BinaryContentsRoundTrip) {
  const std::string path = dir_ + "/blob";
  std::string blob(200000, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 31);
  ASSERT_TRUE(WriteFileAtomically(path, blob, 0644).ok());
  EXPECT_EQ(*ReadFile(path), blob);
}

TEST_F(FilesTest, MissingDirectoryFailsNamingThePath) {
  const std::string path = dir_ + "/no/such/dir/ca.key";
  absl::Status status = WriteFileAtomically(path, "x", 0600);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(path));
}

TEST_F(FilesTest, ReadMissingFileIsNotFoundNamingThePath) {
  const std::string path = dir_ + "/absent.crt";
  absl::StatusOr<std::string> contents = ReadFile(path);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(contents.status().message(), HasSubstr(path));
}

}  // namespace
}  // namespace cohort::crypto
