#pragma once
// The names of the temporary files the bind9 provider writes next to its targets, and telling
// them apart from everything else in a directory. A crash (or SIGKILL) between writing a temp
// file and renaming it leaves the temp behind; the provider sweeps such leftovers on its next
// pass. Only names this writer produces are ever recognised, so an operator's own files (an
// editor's ".swp", "x.zone.tmp", "notes.tmp-1-2") are never touched.
#include <cstdint>
#include <optional>
#include <string>

namespace tend::bind9 {

struct TempName {
  int64_t pid = 0;   // the writing process (0: not known)
  uint64_t seq = 0;  // its per-process counter
  // The base name of the file the temp was for ("a.test.zone", "named.conf.tend"); empty for
  // the batch check conf.
  std::string target;
  // For the SFTP writer's own temp (a server reached over ssh): the base name it was writing,
  // which is one of the names above or a target itself. Its pid is not known (0).
  std::string inner;
};

// <dir>/.<base>.tmp-<pid>-<seq> next to `target` (<dir>/<base>).
std::string tempFileName(const std::string& target, int64_t pid, uint64_t seq);
// The include wrapper named-checkconf reads for the fragment's temp file.
inline constexpr const char kCheckWrapperSuffix[] = ".check.conf";
// <dir>/.check-<pid>-<seq>.conf: the throwaway conf that checks several zones in one run.
std::string batchCheckConfName(const std::string& dir, int64_t pid, uint64_t seq);

// A directory entry's base name -> the temp it is, or nullopt when it is not one of ours:
//   .<zone>.zone.tmp-P-S   .named.conf.tend.tmp-P-S   .named.conf.tend.tmp-P-S.check.conf
//   .check-P-S.conf
// and, on a server reached over ssh, the temp the SFTP writer puts beside each file it
// replaces (providers/ssh: `.<name>.tend-<10 hex>`) when <name> is one of those or a target
// (`<zone>.zone`, `named.conf.tend`).
std::optional<TempName> parseTempName(const std::string& name);

}  // namespace tend::bind9
