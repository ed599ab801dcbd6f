#include "daemon/server/spec_source.h"

#include <filesystem>
#include <mutex>
#include <set>

#include "core/log.h"
#include "core/subprocess.h"
#include "daemon/server/subprocess.h"

namespace tend::daemon {
namespace fs = std::filesystem;
namespace {

class DirSpecSource final : public SpecSource {
 public:
  explicit DirSpecSource(std::string dir) : dir_(std::move(dir)) {}
  std::string describe() const override { return dir_; }
  std::string watchDir() const override { return dir_; }
  Result<SpecCandidate> prepare(bool) override {
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) return makeError("spec directory " + dir_ + " does not exist");
    return SpecCandidate{dir_, ""};
  }

 private:
  std::string dir_;
};

// A bare clone in workDir/repo.git, one detached worktree per candidate commit in
// workDir/rev-<commit>. The applied commit's worktree stays untouched while a newer commit is
// validated, and older ones are removed once a newer one is applied.
class GitSpecSource final : public SpecSource {
 public:
  explicit GitSpecSource(GitSourceOptions o) : o_(std::move(o)) {
    repo_ = (fs::path(o_.workDir) / "repo.git").string();
  }
  std::string describe() const override {
    return o_.url + " (branch " + o_.branch + (o_.path.empty() ? "" : ", path " + o_.path) + ")";
  }
  std::string watchDir() const override { return ""; }
  bool isGit() const override { return true; }

  Result<SpecCandidate> prepare(bool fetch) override {
    std::lock_guard lk(mu_);
    std::error_code ec;
    fs::create_directories(o_.workDir, ec);
    if (!fs::exists(fs::path(repo_) / "HEAD")) {
      auto r = git({"clone", "--bare", "--quiet", o_.url, repo_});
      if (!r.ok()) return r.error();
      fetch = true;
    }
    if (fetch) {
      auto r = git({"--git-dir=" + repo_, "fetch", "--quiet", "--prune", o_.url,
                    "+refs/heads/" + o_.branch + ":refs/heads/" + o_.branch});
      if (!r.ok()) return r.error();
    }
    auto rev = git({"--git-dir=" + repo_, "rev-parse", "--verify", "refs/heads/" + o_.branch + "^{commit}"});
    if (!rev.ok()) return makeError("branch '" + o_.branch + "' not found in " + o_.url);
    std::string commit = rev.value();
    while (!commit.empty() && (commit.back() == '\n' || commit.back() == ' ')) commit.pop_back();
    std::string wt = (fs::path(o_.workDir) / ("rev-" + commit)).string();
    if (!fs::exists(fs::path(wt) / ".git")) {
      fs::remove_all(wt, ec);
      git({"--git-dir=" + repo_, "worktree", "prune"});
      auto r = git({"--git-dir=" + repo_, "worktree", "add", "--quiet", "--detach", "--force", wt, commit});
      if (!r.ok()) return r.error();
    }
    std::string dir = o_.path.empty() ? wt : (fs::path(wt) / o_.path).string();
    if (!fs::is_directory(dir, ec))
      return makeError("commit " + commit.substr(0, 12) + " has no directory '" + o_.path + "'");
    return SpecCandidate{dir, commit};
  }

  void accepted(const SpecCandidate& c) override {
    std::lock_guard lk(mu_);
    applied_ = c.revision;
    cleanup();
  }
  void rejected(const SpecCandidate&) override {
    std::lock_guard lk(mu_);
    cleanup();
  }

 private:
  // Keep only the applied commit's worktree (and the newest candidate, which may be re-read).
  void cleanup() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(o_.workDir, ec)) {
      auto name = e.path().filename().string();
      if (name.rfind("rev-", 0) != 0 || name == "rev-" + applied_) continue;
      git({"--git-dir=" + repo_, "worktree", "remove", "--force", e.path().string()});
      fs::remove_all(e.path(), ec);
    }
    git({"--git-dir=" + repo_, "worktree", "prune"});
  }

  Result<std::string> git(std::vector<std::string> args) {
    std::string what = args.empty() ? "" : args[0];
    auto r = runProcess(safeGitArgv(std::move(args)), std::chrono::seconds(120));
    if (r.exitCode != 0) {
      std::string out = r.output;
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return makeError("git " + what + " failed" + (r.timedOut ? " (timed out)" : "") +
                       (out.empty() ? "" : ": " + out));
    }
    return r.output;
  }

  GitSourceOptions o_;
  std::string repo_;
  std::string applied_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<SpecSource> makeDirSpecSource(const std::string& dir) {
  return std::make_unique<DirSpecSource>(dir);
}

std::unique_ptr<SpecSource> makeGitSpecSource(GitSourceOptions opts) {
  return std::make_unique<GitSpecSource>(std::move(opts));
}

}  // namespace tend::daemon
