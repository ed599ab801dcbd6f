#pragma once
// Where the spec comes from: a local directory, or a Git repository followed by tend.
// A source hands out candidates (a directory + revision) for the loader; the caller reports
// back whether the candidate validated, so a Git source can keep the applied checkout intact
// while a broken commit is inspected.
#include <memory>
#include <string>

#include "core/result.h"

namespace tend::daemon {

struct SpecCandidate {
  std::string dir;       // directory to load
  std::string revision;  // "" = let the loader compute it (git rev of a work tree, or content hash)
};

class SpecSource {
 public:
  virtual ~SpecSource() = default;
  virtual std::string describe() const = 0;  // for logs and status
  virtual std::string watchDir() const = 0;  // "" = nothing to watch with inotify
  // fetch: contact the remote first (git). Blocking.
  virtual Result<SpecCandidate> prepare(bool fetch) = 0;
  virtual void accepted(const SpecCandidate&) {}
  virtual void rejected(const SpecCandidate&) {}
  virtual bool isGit() const { return false; }
};

std::unique_ptr<SpecSource> makeDirSpecSource(const std::string& dir);

struct GitSourceOptions {
  std::string url;
  std::string branch = "main";
  std::string path;      // spec directory inside the repository ("" = its root)
  std::string workDir;   // where clones and checkouts live (inside the state directory)
};
std::unique_ptr<SpecSource> makeGitSpecSource(GitSourceOptions opts);

// A --spec-git URL split for display and for git. Userinfo (user:token@) is never shown:
// `shown` goes to logs, status and errors. For http(s) git gets the URL without it and the
// credentials through a credential helper (not argv, not the clone's config); other schemes
// (ssh://git@host) keep their user for git. Every credential found is registered with the
// Redactor.
struct GitUrl {
  std::string shown;
  std::string forGit;
  std::string user, password;  // percent-decoded http(s) credentials
  bool helper = false;         // hand user/password to git through the credential helper
};
GitUrl parseGitUrl(const std::string& url);

}  // namespace tend::daemon
