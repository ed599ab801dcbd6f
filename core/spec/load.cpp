// loadSpecDir: read -> validate -> expand; revision from git or a content hash.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <sstream>
#include <system_error>

#include "core/spec.h"
#include "core/subprocess.h"
#include "core/spec/loader.h"
#include "core/spec/model.h"

namespace tend {

namespace {

// Runs argv (no shell) and returns its stdout; nullopt when it could not run or exited non-zero.
std::optional<std::string> runCapture(const std::vector<std::string>& argv) {
  SubprocessOptions o;
  o.timeout = std::chrono::seconds(30);
  auto r = runSubprocess(argv, o);
  if (r.exitCode != 0) return std::nullopt;
  return std::move(r.out);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string computeRevision(const Spec& s) {
  auto head = runCapture({"git", "-C", s.absDir, "rev-parse", "HEAD"});
  if (head && !trim(*head).empty()) {
    std::string rev = trim(*head);
    auto st = runCapture({"git", "-C", s.absDir, "status", "--porcelain", "--", "."});
    if (st && !trim(*st).empty()) rev += "-dirty";
    return rev;
  }
  // Not a git work tree: a hash over the files read (names and contents), streamed so that
  // no copy of the spec text is held: sha256 of name \0 size \0 content, per file, sorted.
  std::vector<std::string> files = s.files;
  std::sort(files.begin(), files.end());
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("sha256 unavailable");
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::string content;
    if (in) {
      in.seekg(0, std::ios::end);
      auto size = in.tellg();
      in.seekg(0, std::ios::beg);
      if (size > 0) {
        content.resize(static_cast<size_t>(size));
        in.read(content.data(), size);
        content.resize(static_cast<size_t>(in.gcount()));
      }
    }
    std::string head = f.substr(f.rfind('/') == std::string::npos ? 0 : f.rfind('/') + 1);
    head += '\0';
    head += std::to_string(content.size());
    head += '\0';
    EVP_DigestUpdate(ctx.get(), head.data(), head.size());
    EVP_DigestUpdate(ctx.get(), content.data(), content.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < 6 && i < n; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return "sha256:" + hex;
}

std::string absolute(const std::string& dir) {
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf)) return buf;
  if (!dir.empty() && dir[0] == '/') return dir;
  if (::getcwd(buf, sizeof buf)) return std::string(buf) + "/" + dir;
  return dir;
}

// Runs `f` on a thread of its own when one can be had, else at once on the calling thread;
// get() returns its result (rethrowing what it threw). Neither copied nor moved: the thread
// refers to `f_`, and `fut_` (declared after it, so destroyed before it) waits for the thread.
template <class T>
class Beside {
 public:
  explicit Beside(std::function<T()> f) : f_(std::move(f)) {
    try {
      fut_ = std::async(std::launch::async, [this] { return f_(); });
    } catch (const std::system_error&) {
      done_ = f_();  // no thread to be had
    }
  }
  Beside(const Beside&) = delete;
  Beside& operator=(const Beside&) = delete;
  T get() { return done_ ? std::move(*done_) : fut_.get(); }

 private:
  std::function<T()> f_;
  std::optional<T> done_;
  std::future<T> fut_;
};

struct SideWork {
  Diagnostics diags;     // validation's
  std::string revision;  // when asked for
};

// Appends validation's diagnostics, then expansion's. A dependency cycle that validation
// already named (app or container depends_on) shows up in expansion again through the
// derived edges: one root cause, reported once.
void mergeDiagnostics(Diagnostics& d, Diagnostics validation, Diagnostics expansion) {
  auto isCycle = [](const Diagnostic& x) { return x.message.rfind("dependency cycle:", 0) == 0; };
  bool cycleNamed = std::any_of(validation.begin(), validation.end(), isCycle);
  for (auto& x : validation) d.push_back(std::move(x));
  for (auto& x : expansion)
    if (!cycleNamed || !isCycle(x)) d.push_back(std::move(x));
}

void sortDiags(Diagnostics& d) {
  std::stable_sort(d.begin(), d.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.loc.file, a.loc.line, a.loc.col) < std::tie(b.loc.file, b.loc.line, b.loc.col);
  });
  d.erase(std::unique(d.begin(), d.end(),
                      [](const Diagnostic& a, const Diagnostic& b) {
                        return a.severity == b.severity && a.loc.file == b.loc.file && a.loc.line == b.loc.line &&
                               a.loc.col == b.loc.col && a.message == b.message;
                      }),
          d.end());
}

}  // namespace

LoadResult loadSpecDir(const std::string& dirIn, const LoadOptions& opts) {
  LoadResult res;
  try {
    std::string dir = dirIn.empty() ? "." : dirIn;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto s = std::make_shared<Spec>();
    s->dir = dir;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      res.diagnostics.push_back({Severity::Error, {dir, 0, 0}, "spec directory not found"});
      return res;
    }
    s->absDir = absolute(dir);
    Diagnostics& d = res.diagnostics;

    auto shown = [&](const char* name) { return spec::joinPath(dir, name); };
    bool missing = false;
    auto env = spec::readYamlFile(shown("environment.yml"), shown("environment.yml"), d, true, &missing);
    if (missing) {
      d.push_back({Severity::Error, {shown("environment.yml"), 1, 1},
                   "file not found: every spec directory needs an environment.yml"});
    }
    auto hosts = spec::readYamlFile(shown("hosts.yml"), shown("hosts.yml"), d, true);
    auto apps = spec::readYamlFile(shown("apps.yml"), shown("apps.yml"), d, true);
    for (const char* alt : {"environment.yaml", "hosts.yaml", "apps.yaml"}) {
      struct stat st2 {};
      if (::stat(shown(alt).c_str(), &st2) == 0)
        d.push_back({Severity::Warning, {shown(alt), 1, 1}, std::string("ignored: tend reads '") +
                                                                std::string(alt).substr(0, std::string(alt).size() - 5) + ".yml'"});
    }
    if (env) {
      s->files.push_back(shown("environment.yml"));
      spec::readEnvironment(*env, *s, d);
    }
    if (hosts) {
      s->files.push_back(shown("hosts.yml"));
      spec::readHosts(*hosts, *s, d);
    }
    if (apps) {
      s->files.push_back(shown("apps.yml"));
      spec::readApps(*apps, *s, d);
    }
    s->buildIndex();
    bool haveEnv = env != nullptr;

    // Secret names: injected, or the plaintext keys of the SOPS file.
    if (opts.secretNames) {
      s->secretNamesKnown = *opts.secretNames;
      s->secretNamesAvailable = true;
    } else if (s->secretsFile.set) {
      std::string err;
      std::vector<std::string> names;
      if (spec::readSopsKeyNames(spec::joinPath(s->absDir, s->secretsFile.v), names, err)) {
        s->secretNamesKnown = std::move(names);
        s->secretNamesAvailable = true;
        s->files.push_back(spec::joinPath(dir, s->secretsFile.v));
      } else {
        d.push_back({Severity::Error, s->secretsFile.loc, "secrets file '" + s->secretsFile.v + "': " + err});
        s->secretNamesAvailable = true;  // avoid one extra error per reference
        s->secretNamesKnown.clear();
      }
    }
    std::sort(s->secretNamesKnown.begin(), s->secretNamesKnown.end());

    // Past this point the model is complete. Validation only reads it (and fills proxyRoutes,
    // which nothing else reads), expansion only reads it, and the revision (a git command, or
    // a hash over the files read) needs neither: a second thread frees the parse trees,
    // validates and works out the revision while this one expands. Expansion runs even when
    // validation fails, as it did when the two ran one after the other; its result is then
    // dropped. Diagnostics are merged in the old order (validation first) and sorted below.
    bool wantRevision = haveEnv && opts.revision.empty();
    // The trees are freed here, before expansion: expansion reuses their memory (fresh pages
    // cost more than the free), and peak RSS stays lower.
    env.reset();
    hosts.reset();
    apps.reset();
    auto side = [s, haveEnv, wantRevision] {
      SideWork w;
      if (haveEnv) spec::validateSpec(*s, w.diags);
      if (wantRevision) w.revision = computeRevision(*s);
      return w;
    };
    Beside<SideWork> sideWork(std::move(side));
    std::shared_ptr<DesiredGraph> graph;
    Diagnostics expandDiags;
    if (haveEnv) graph = spec::expandSpec(*s, expandDiags);
    SideWork sw = sideWork.get();
    mergeDiagnostics(d, std::move(sw.diags), std::move(expandDiags));
    sortDiags(d);
    if (hasErrors(d) || !graph || !haveEnv) return res;
    graph->revision = !opts.revision.empty() ? opts.revision : std::move(sw.revision);
    res.spec = s;
    res.graph = graph;
  } catch (const std::exception& e) {
    // A bug, not an expected path: still never a crash and never a partial model.
    res.spec.reset();
    res.graph.reset();
    res.diagnostics.push_back({Severity::Error, {dirIn, 0, 0}, std::string("internal error while loading: ") + e.what()});
  }
  return res;
}

}  // namespace tend
