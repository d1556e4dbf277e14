// Whole-file reads and crash-safe whole-file writes, for credentials and other
// small files that must never be seen half-written.
//
// Thread-safety: the functions are thread-safe; concurrent writers of the same
// path each produce a complete file and the last rename wins.
#ifndef COHORT_CRYPTO_FILES_H_
#define COHORT_CRYPTO_FILES_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cohort::crypto {

// Replaces the file at `path` with `contents`, so that after a crash the path
// holds either the old or the new contents, never a mixture.
//
// The data goes to a temporary file in the same directory, created with
// `mode` at open() (and fchmod'ed to exactly `mode`, whatever the umask), so a
// private key is never readable by others even for an instant; it is fsync'ed,
// renamed over `path`, and the directory is fsync'ed so the rename itself is
// durable. Use 0600 for private keys and 0644 for certificates.
//
// The directory must already exist. Returns an errno-derived status
// (NotFound, PermissionDenied, ResourceExhausted, ...) whose message names the
// path and the failing step; the temporary file is removed on failure.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents, mode_t mode);

// Returns the whole contents of the file at `path`.
// Returns an errno-derived status (NotFound, PermissionDenied, ...) whose
// message names `path`.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace cohort::crypto

#endif  // COHORT_CRYPTO_FILES_H_
