#include "daemon/server/spec_source.h"

#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <mutex>
#include <set>

#include "core/log.h"
#include "core/secrets.h"
#include "core/subprocess.h"

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

std::string percentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

GitUrl parseGitUrl(const std::string& url) {
  GitUrl g;
  g.shown = g.forGit = url;
  auto& redactor = Redactor::instance();
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) {
    // scp-like "user@host:path": the user is no secret, but it is userinfo all the same.
    const size_t at = url.find('@');
    const size_t colon = url.find(':');
    if (at != std::string::npos && colon != std::string::npos && at < colon) g.shown = url.substr(at + 1);
    return g;
  }
  const size_t hostStart = scheme + 3;
  const size_t pathStart = url.find('/', hostStart);
  const std::string authority = url.substr(hostStart, pathStart == std::string::npos ? std::string::npos : pathStart - hostStart);
  const size_t at = authority.rfind('@');
  if (at == std::string::npos) return g;
  const std::string userinfo = authority.substr(0, at);
  g.shown = url.substr(0, hostStart) + authority.substr(at + 1) +
            (pathStart == std::string::npos ? "" : url.substr(pathStart));
  const size_t colon = userinfo.find(':');
  const std::string rawUser = userinfo.substr(0, colon);
  const std::string rawPass = colon == std::string::npos ? "" : userinfo.substr(colon + 1);
  std::string schemeName = url.substr(0, scheme);
  for (auto& c : schemeName) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!rawPass.empty()) {
    redactor.add(rawPass);
    redactor.add(percentDecode(rawPass));
    redactor.add(userinfo);
  }
  if (schemeName == "http" || schemeName == "https") {
    g.forGit = g.shown;
    g.helper = true;
    g.user = percentDecode(rawUser);
    g.password = percentDecode(rawPass);
    // https://TOKEN@host: the user name is the credential.
    if (rawPass.empty() && !rawUser.empty()) {
      redactor.add(rawUser);
      redactor.add(g.user);
    }
  }
  return g;
}

namespace {

// A bare clone in workDir/repo.git, one detached worktree per candidate commit in
// workDir/rev-<commit>. The applied commit's worktree stays untouched while a newer commit is
// validated, and older ones are removed once a newer one is applied.
class GitSpecSource final : public SpecSource {
 public:
  explicit GitSpecSource(GitSourceOptions o) : o_(std::move(o)), url_(parseGitUrl(o_.url)) {
    repo_ = (fs::path(o_.workDir) / "repo.git").string();
  }
  std::string describe() const override {
    return url_.shown + " (branch " + o_.branch + (o_.path.empty() ? "" : ", path " + o_.path) + ")";
  }
  std::string watchDir() const override { return ""; }
  bool isGit() const override { return true; }

  Result<SpecCandidate> prepare(bool fetch) override {
    std::lock_guard lk(mu_);
    std::error_code ec;
    fs::create_directories(o_.workDir, ec);
    // The clone holds the whole spec history (and whatever a commit ever held): the daemon's
    // user only.
    ::chmod(o_.workDir.c_str(), 0700);
    if (!fs::exists(fs::path(repo_) / "HEAD")) {
      auto r = git({"clone", "--bare", "--quiet", url_.forGit, repo_});
      if (!r.ok()) return r.error();
      fetch = true;
    }
    if (fetch) {
      auto r = git({"--git-dir=" + repo_, "fetch", "--quiet", "--prune", url_.forGit,
                    "+refs/heads/" + o_.branch + ":refs/heads/" + o_.branch});
      if (!r.ok()) return r.error();
    }
    auto rev = git({"--git-dir=" + repo_, "rev-parse", "--verify", "refs/heads/" + o_.branch + "^{commit}"});
    if (!rev.ok()) return makeError("branch '" + o_.branch + "' not found in " + url_.shown);
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
    const std::string verb = args[0].rfind("--git-dir=", 0) == 0 && args.size() > 1 ? args[1] : args[0];
    // No hooks or fsmonitor command from any configuration: the repository is fetched from
    // the network, and what runs on this host is tend's choice alone.
    args.insert(args.begin(), {"git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"});
    SubprocessOptions so;
    so.timeout = std::chrono::seconds(120);
    so.mergeStderr = true;
    so.maxCapture = 64 * 1024;
    so.env = {"GIT_TERMINAL_PROMPT=0", "LC_ALL=C"};
    if (url_.helper) {
      // Credentials reach git through a credential helper reading this process's environment
      // (readable by the daemon's user only), never through the command line (visible to
      // every local user in ps) or the clone's config file.
      so.env.insert(so.env.end(),
                    {"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=credential.helper", "GIT_CONFIG_VALUE_0=",
                     "GIT_CONFIG_KEY_1=credential.helper",
                     "GIT_CONFIG_VALUE_1=!f() { test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' "
                     "\"$TEND_GIT_USERNAME\" \"$TEND_GIT_PASSWORD\"; }; f",
                     "TEND_GIT_USERNAME=" + url_.user, "TEND_GIT_PASSWORD=" + url_.password});
    }
    auto r = runSubprocess(args, so);
    if (!r.started) return makeError("git " + verb + " failed: " + r.startError);
    if (r.exitCode != 0) {
      // git quotes the URL it was given in its errors: only ever the one without userinfo
      // here, and the redactor knows the password besides.
      std::string out = Redactor::instance().redact(r.out);
      while (!out.empty() && out.back() == '\n') out.pop_back();
      return makeError("git " + verb + " failed" + (r.timedOut ? " (timed out)" : "") +
                       (out.empty() ? "" : ": " + out));
    }
    return r.out;
  }

  GitSourceOptions o_;
  GitUrl url_;
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
