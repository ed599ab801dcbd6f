// loadSpecDir: read -> validate -> expand; revision from git or a content hash.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <sstream>
#include <system_error>

#include "core/hash.h"
#include "core/spec.h"
#include "core/subprocess.h"
#include "core/spec/loader.h"
#include "core/spec/model.h"
#include "core/spec/walker.h"

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

// Whether git could find a repository for `dir`: a `.git` in it or in a directory above, or
// GIT_DIR set. False means git is not asked at all (a process start saved on every load of a
// spec that is not in a work tree, tendd --once's case).
bool mayBeInGitTree(const std::string& dir) {
  if (const char* gd = std::getenv("GIT_DIR"); gd && *gd) return true;
  std::error_code ec;
  for (std::filesystem::path p = std::filesystem::path(dir).lexically_normal();; p = p.parent_path()) {
    if (std::filesystem::exists(p / ".git", ec)) return true;
    if (p == p.root_path() || p.empty() || p == p.parent_path()) return false;
  }
}

std::string computeRevision(const Spec& s) {
  // Git only for a directory inside a work tree, and never running what the tree configures
  // (safeGitArgv): the spec is content others push.
  std::optional<std::string> head;
  if (mayBeInGitTree(s.absDir))
    head = runCapture(safeGitArgv({"-C", s.absDir, "rev-parse", "--is-inside-work-tree", "HEAD"}));
  std::string out = head ? trim(*head) : "";
  if (out.rfind("true\n", 0) == 0 && !trim(out.substr(5)).empty()) {
    std::string rev = trim(out.substr(5));
    auto st = runCapture(safeGitArgv({"-C", s.absDir, "status", "--porcelain", "--", "."}));
    if (st && !trim(*st).empty()) rev += "-dirty";
    return rev;
  }
  // Not a git work tree: a hash over the files read (names and contents), streamed so that
  // no copy of the spec text is held: sha256 of name \0 size \0 content, per file, sorted.
  std::vector<std::string> files = s.files;
  std::sort(files.begin(), files.end());
  Sha256Hasher sha;
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
    sha.update(head);
    sha.update(content);
  }
  auto md = sha.finish();
  std::string hex = hexBytes(md.data(), 6);
  return "sha256:" + hex;
}

std::string absolute(const std::string& dir) {
  char buf[PATH_MAX];
  if (::realpath(dir.c_str(), buf)) return buf;
  if (!dir.empty() && dir[0] == '/') return dir;
  if (::getcwd(buf, sizeof buf)) return std::string(buf) + "/" + dir;
  return dir;
}

// apps.yml parsed on a thread of its own, handing out each `apps` entry once complete.
// drain() runs `fn(key, value, owner)` on this thread for each entry as it comes, until the
// parse is over; `fn` hands back the entry's node store with giveBack() once done with it
// and the parsing thread frees it (in its own malloc arena, which the next entries reuse).
// finish() returns the parse's outcome. Without a thread to be had, the file is parsed in
// drain() itself (entries still handed out in order).
class AppsStream {
 public:
  struct Parsed {
    std::unique_ptr<spec::YDoc> doc;  // null: missing file or a YAML error (in diags)
    Diagnostics diags;
    spec::EntryStream stream;  // intact/map as the parser left them
  };
  using Entry = std::pair<const spec::YNode*, const spec::YNode*>;
  struct Handed {
    Entry e;
    std::shared_ptr<void> owner;
  };

  // `stream` false: drain() parses the file whole, handing out nothing. `skip`: the file is
  // not to be read at all (as if missing).
  AppsStream(std::string path, bool stream, bool skip) : path_(std::move(path)), stream_(stream && !skip), skip_(skip) {
    out_.stream.key = "apps";
    out_.stream.onEntry = [this](const spec::YNode* k, const spec::YNode* v, std::shared_ptr<void> owner) {
      bool wake;
      std::vector<std::shared_ptr<void>> free;
      {
        std::unique_lock lk(mu_);
        // At most kAhead entries wait: reading and expanding is the slower side, and a parser
        // running ahead would hold most of a large file's tree (and take CPU from hashing).
        if (threaded_) room_.wait(lk, [&] { return queue_.size() < kAhead || abandoned_; });
        wake = queue_.empty();
        queue_.push_back({{k, v}, std::move(owner)});
        free.swap(returned_);
      }
      if (wake) cv_.notify_one();
    };  // `free` goes here, on the parsing thread
    if (!stream_) return;
    try {
      threaded_ = true;
      thread_ = std::thread([this] { parse(); });
    } catch (const std::system_error&) {
      threaded_ = false;
      // no thread: drain() parses
    }
  }
  // Whatever happened on this side (an exception before or while draining), the parser must
  // not wait for room that will never come.
  ~AppsStream() {
    abandon();
    if (thread_.joinable()) thread_.join();
  }
  AppsStream(const AppsStream&) = delete;
  AppsStream& operator=(const AppsStream&) = delete;

  template <class Fn>
  void drain(Fn&& fn) {
    if (!thread_.joinable()) parse();
    std::vector<Handed> batch;
    while (true) {
      bool over;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return !queue_.empty() || done_; });
        batch.swap(queue_);
        over = done_;
      }
      room_.notify_one();
      try {
        for (auto& h : batch) fn(h.e.first, h.e.second, std::move(h.owner));
      } catch (...) {
        abandon();
        throw;
      }
      batch.clear();
      {
        std::lock_guard lk(mu_);
        for (auto& o : back_) returned_.push_back(std::move(o));
      }
      back_.clear();
      if (over) break;
    }
  }
  void abandon() {
    {
      std::lock_guard lk(mu_);
      abandoned_ = true;
    }
    room_.notify_one();
  }
  void giveBack(std::shared_ptr<void> owner) {
    if (owner) back_.push_back(std::move(owner));
  }
  Parsed finish() {
    if (thread_.joinable()) thread_.join();
    if (error_) std::rethrow_exception(error_);
    return std::move(out_);
  }

 private:
  void parse() {
    try {
      if (!skip_) out_.doc = spec::readYamlFile(path_, path_, out_.diags, true, nullptr, stream_ ? &out_.stream : nullptr);
    } catch (...) {
      error_ = std::current_exception();
    }
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_one();
  }

  std::string path_;
  bool stream_;
  bool skip_;
  Parsed out_;
  std::exception_ptr error_;
  std::mutex mu_;
  std::condition_variable cv_;    // entries or the end: for the draining thread
  std::condition_variable room_;  // room in queue_: for the parsing thread
  static constexpr size_t kAhead = 8;
  bool threaded_ = false;      // set before the thread starts
  std::vector<Handed> queue_;  // guarded by mu_
  std::vector<std::shared_ptr<void>> returned_;  // guarded by mu_: freed by the parsing thread
  std::vector<std::shared_ptr<void>> back_;      // draining thread only
  bool done_ = false;         // guarded by mu_
  bool abandoned_ = false;    // guarded by mu_: nobody drains any more
  std::thread thread_;        // last: started once every other member exists
};

// The pairs of the finished tree's streamed mapping (none when there is none).
std::vector<AppsStream::Entry> finalEntries(const spec::YDoc& doc, const spec::EntryStream& st) {
  if (!st.map || !doc.root || !doc.root->isMap()) return {};
  for (const auto& [k, v] : doc.root->pairs)
    if (k->isScalar() && !k->quoted && k->value == st.key) {
      if (v != st.map) return {{nullptr, nullptr}};  // another mapping: never equal to a preview
      return st.map->pairs;
    }
  return {{nullptr, nullptr}};
}

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
  static const ProviderRegistry kNoProviders;
  const ProviderRegistry& registry = opts.providers ? *opts.providers : kNoProviders;
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
    // The three files, too, are read only from inside the directory (not through a symbolic
    // link leading out): false, reported, when one leads out.
    auto inside = [&](const char* name) {
      spec::SpecFile f = spec::confinePath(s->absDir, s->absDir, name);
      if (f.error.empty()) return true;
      res.diagnostics.push_back({Severity::Error, {shown(name), 1, 1}, f.error});
      return false;
    };
    bool appsInside = inside("apps.yml");
    // apps.yml, by far the largest file of a big site, is parsed on a second thread from now
    // on. Each app it hands out complete is read, and expanded, here as soon as the other
    // files are read, while the parse goes on.
    AppsStream apps(shown("apps.yml"), opts.streamApps, !appsInside);
    bool missing = false;
    std::unique_ptr<spec::YDoc> env;
    if (inside("environment.yml")) env = spec::readYamlFile(shown("environment.yml"), shown("environment.yml"), d, true, &missing);
    if (missing) {
      d.push_back({Severity::Error, {shown("environment.yml"), 1, 1},
                   "file not found: every spec directory needs an environment.yml"});
    }
    std::unique_ptr<spec::YDoc> hosts;
    if (inside("hosts.yml")) hosts = spec::readYamlFile(shown("hosts.yml"), shown("hosts.yml"), d, true);
    for (const char* alt : {"environment.yaml", "hosts.yaml", "apps.yaml"}) {
      struct stat st2 {};
      if (::stat(shown(alt).c_str(), &st2) == 0)
        d.push_back({Severity::Warning, {shown(alt), 1, 1}, std::string("ignored: tend reads '") +
                                                                std::string(alt).substr(0, std::string(alt).size() - 5) + ".yml'"});
    }
    if (env) {
      s->files.push_back(shown("environment.yml"));
      spec::readEnvironment(*env, *s, d, registry);
    }
    if (hosts) {
      s->files.push_back(shown("hosts.yml"));
      spec::readHosts(*hosts, *s, d);
    }
    bool haveEnv = env != nullptr;

    // The secrets file is read (here, or by the daemon from the graph) only from inside the
    // spec directory.
    spec::SpecFile secretsFile;
    if (s->secretsFile.set) {
      secretsFile = spec::confinePath(s->absDir, s->absDir, s->secretsFile.v);
      if (!secretsFile.error.empty())
        d.push_back({Severity::Error, s->secretsFile.loc, "secrets file '" + s->secretsFile.v + "': " + secretsFile.error});
    }
    // Secret names: injected, or the plaintext keys of the SOPS file.
    if (!secretsFile.error.empty()) {
      s->secretNamesAvailable = true;  // avoid one extra error per reference
    } else if (opts.secretNames) {
      s->secretNamesKnown = *opts.secretNames;
      s->secretNamesAvailable = true;
    } else if (s->secretsFile.set) {
      std::string err;
      std::vector<std::string> names;
      if (spec::readSopsKeyNames(secretsFile.path, names, err)) {
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
    env.reset();
    hosts.reset();

    // Apps as the parser hands them out: read, and expanded (expansion needs only the other
    // files and the app itself). Their diagnostics are kept apart until the preview proves
    // final; when it does not (a YAML error, duplicate or merge keys among the apps), all of
    // it is dropped and apps.yml is read and expanded from its finished tree, as it always was.
    s->buildIndex();
    const size_t filesBefore = s->files.size();
    Diagnostics streamDiags;
    Diagnostics expandDiags;
    std::optional<spec::Expansion> expansion;
    if (haveEnv && opts.streamApps) expansion.emplace(*s, expandDiags, registry);
    std::vector<const spec::YNode*> readKeys;
    std::vector<AppsStream::Entry> handedOut;
    std::vector<std::shared_ptr<void>> unread;  // stores of entries not read: the parser may still look
    spec::Walker appsWalker(shown("apps.yml"), streamDiags);
    apps.drain([&](const spec::YNode* k, const spec::YNode* v, std::shared_ptr<void> owner) {
      handedOut.emplace_back(k, v);
      // A key readApps reports, or a merge key (the final mapping then differs from the preview).
      if (!k->isScalar() || k->value.empty() || (!k->quoted && k->value == "<<")) {
        unread.push_back(std::move(owner));
        return;
      }
      size_t before = s->apps.size();
      spec::readApp(appsWalker, k, v, *s, streamDiags);
      readKeys.push_back(k);
      if (expansion && s->apps.size() > before) expansion->app(s->apps.back());
      apps.giveBack(std::move(owner));
    });
    AppsStream::Parsed parsed = apps.finish();
    unread.clear();
    for (auto& x : parsed.diags) d.push_back(std::move(x));
    bool previewFinal = !opts.streamApps || !parsed.doc || (parsed.stream.intact && finalEntries(*parsed.doc, parsed.stream) == handedOut);
    if (!parsed.doc || !previewFinal) {
      // Nothing of the preview stands. With a YAML error there is no apps.yml to read (as
      // ever); otherwise the values handed out are gone, so the file is parsed again whole.
      s->apps.clear();
      s->files.resize(filesBefore);
      streamDiags.clear();
      readKeys.clear();
      expansion.reset();
      expandDiags.clear();
      if (parsed.doc) {
        Diagnostics again;
        parsed.doc = spec::readYamlFile(shown("apps.yml"), shown("apps.yml"), again, true);
        for (auto& x : again) d.push_back(std::move(x));
      }
    }
    for (auto& x : streamDiags) d.push_back(std::move(x));
    if (parsed.doc) {
      s->files.push_back(shown("apps.yml"));
      spec::readApps(*parsed.doc, *s, d, &readKeys);
    }
    s->buildIndex();
    parsed.doc.reset();
    parsed.stream.failed.reset();

    // Past this point the model is complete. Validation only reads it (and fills proxyRoutes,
    // which nothing else reads), expansion only reads it, and the revision (a git command, or
    // a hash over the files read) needs neither: a second thread validates and works out the
    // revision while this one finishes expansion (what spans apps: dependencies between apps,
    // DNS, tiers, order). Expansion runs even when validation fails, as it did when the two
    // ran one after the other; its result is then dropped. Diagnostics are merged in the old
    // order (validation first) and sorted below.
    bool wantRevision = haveEnv && opts.revision.empty();
    auto side = [s, haveEnv, wantRevision, &registry] {
      SideWork w;
      if (haveEnv) spec::validateSpec(*s, w.diags, registry);
      if (wantRevision) w.revision = computeRevision(*s);
      return w;
    };
    std::future<SideWork> sideDone;
    try {
      sideDone = std::async(std::launch::async, side);  // a copy: `side` stays usable below
    } catch (const std::system_error&) {
      // no thread to be had: done in turn below
    }
    std::shared_ptr<DesiredGraph> graph;
    if (expansion) {
      graph = expansion->finish();
      expansion.reset();
    } else if (haveEnv) {
      graph = spec::expandSpec(*s, expandDiags, registry);
    }
    SideWork sw = sideDone.valid() ? sideDone.get() : side();
    mergeDiagnostics(d, std::move(sw.diags), std::move(expandDiags));
    sortDiags(d);
    capDiagnostics(d, dir);
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
