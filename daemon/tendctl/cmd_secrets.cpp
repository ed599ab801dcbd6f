// tendctl secrets show|set|edit: manage the SOPS file named by environment.yml's secrets.file
// without installing sops. Values are never echoed; temp files are 0600 and wiped.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <openssl/crypto.h>
#include <yaml-cpp/yaml.h>

#include "core/secrets.h"
#include "core/secrets/age.h"
#include "core/secrets/sops.h"
#include "daemon/tendctl/commands.h"

namespace tend::ctl {
namespace {

namespace fs = std::filesystem;
namespace sec = tend::secrets;

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

int fail(const std::string& msg) {
  std::cerr << "tendctl secrets: " << msg << "\n";
  return kFailure;
}

// DIR/environment.yml secrets.file (relative to DIR); DIR may also be the SOPS file itself.
Result<std::string> secretsFile(const std::string& dir) {
  if (fs::is_regular_file(dir)) return dir;
  fs::path env = fs::path(dir) / "environment.yml";
  if (!fs::exists(env)) env = fs::path(dir) / "environment.yaml";
  if (fs::exists(env)) {
    try {
      YAML::Node root = YAML::LoadFile(env.string());
      YAML::Node f = root["secrets"] ? root["secrets"]["file"] : YAML::Node();
      if (f && f.IsScalar()) {
        fs::path p = f.as<std::string>();
        return (p.is_absolute() ? p : fs::path(dir) / p).lexically_normal().string();
      }
    } catch (const YAML::Exception& e) {
      return makeError(env.string() + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    std::cerr << "tendctl secrets: " << env.string()
              << " has no secrets.file; using secrets.sops.yml\n";
  } else if (!fs::is_directory(dir)) {
    return makeError(dir + " is neither a spec directory nor a SOPS file");
  }
  return (fs::path(dir) / "secrets.sops.yml").lexically_normal().string();
}

Result<std::string> readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return makeError("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Recipients for a new file: TEND_AGE_RECIPIENTS (comma/space separated), else the public keys
// of the identities in the key file.
std::vector<std::string> newFileRecipients(const std::vector<sec::age::X25519Identity>& ids) {
  std::vector<std::string> out;
  if (const char* env = std::getenv("TEND_AGE_RECIPIENTS"); env && *env) {
    std::string s = env;
    for (char& c : s)
      if (c == ',' || c == '\n' || c == '\t') c = ' ';
    std::istringstream in(s);
    std::string r;
    while (in >> r) out.push_back(r);
    return out;
  }
  for (const auto& id : ids) out.push_back(sec::age::formatRecipient(id.pub));
  return out;
}

// Reads the value without echo on a terminal; piped input loses one trailing newline.
Result<SecretString> readValue(const std::string& name, const std::string& valueFile) {
  if (!valueFile.empty()) {
    auto v = readAll(valueFile);
    if (!v) return v.error();
    SecretString s(std::move(*v));
    return s;
  }
  std::string value;
  if (isatty(STDIN_FILENO)) {
    termios old{};
    tcgetattr(STDIN_FILENO, &old);
    termios noecho = old;
    noecho.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
    std::cerr << "Value for " << name << " (not echoed): " << std::flush;
    std::getline(std::cin, value);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    std::cerr << "\n";
  } else {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    value = ss.str();
    std::string tmp = ss.str();
    wipe(tmp);
    if (!value.empty() && value.back() == '\n') value.pop_back();
    if (!value.empty() && value.back() == '\r') value.pop_back();
  }
  SecretString s(std::move(value));
  return s;
}

// Overwrites then removes a temp file that held plaintext.
void shred(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      std::string zeros(4096, '\0');
      for (off_t done = 0; done < st.st_size; done += static_cast<off_t>(zeros.size()))
        if (::write(fd, zeros.data(), zeros.size()) < 0) break;
      ::fsync(fd);
      ::close(fd);
    }
  }
  ::unlink(path.c_str());
}

// SIGTERM, SIGINT, SIGHUP or SIGQUIT while a plaintext file exists: the handler only notes
// it; the code around the editor removes the plaintext and then lets the signal end the
// process as it would have (StopSignals::restoreAndReraise).
volatile sig_atomic_t gStopSignal = 0;
extern "C" void noteStopSignal(int sig) { gStopSignal = sig; }

class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa {};
    sa.sa_handler = noteStopSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: waitpid returns EINTR, so the editor can be stopped
    for (size_t i = 0; i < kCount; ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  // A signal that came and was not handled yet still ends the process, once restored.
  ~StopSignals() { restoreAndReraise(); }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  static bool pending() { return gStopSignal != 0; }
  // Puts the previous dispositions back and, when a signal came, raises it again.
  void restoreAndReraise() {
    restore();
    if (int sig = gStopSignal) {
      gStopSignal = 0;
      ::raise(sig);
    }
  }

 private:
  void restore() {
    if (restored_) return;
    restored_ = true;
    for (size_t i = 0; i < kCount; ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  static constexpr int kSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
  static constexpr size_t kCount = sizeof kSignals / sizeof kSignals[0];
  struct sigaction old_[kCount] {};
  bool restored_ = false;
};

// The editor's exit status; -1 when it did not exit normally (or was stopped because tendctl
// got a stop signal: it is sent SIGTERM, then SIGKILL after 3 s, so the plaintext can go).
int runEditor(const std::string& file) {
  const char* editor = std::getenv("VISUAL");
  if (!editor || !*editor) editor = std::getenv("EDITOR");
  if (!editor || !*editor) editor = "vi";
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Through the shell so EDITOR may carry arguments ("code --wait").
    std::string cmd = std::string(editor) + " \"$1\"";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), "sh", file.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  bool termSent = false;
  auto killAt = std::chrono::steady_clock::time_point::max();
  for (;;) {
    if (StopSignals::pending() && !termSent) {
      ::kill(pid, SIGTERM);
      termSent = true;
      killAt = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    }
    pid_t r = waitpid(pid, &status, termSent ? WNOHANG : 0);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (termSent) {
      if (std::chrono::steady_clock::now() >= killAt) ::kill(pid, SIGKILL);
      ::usleep(20000);
    }
  }
  if (termSent) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Shreds every file the edit left in its private directory (the editor's swap and backup
// files hold the plaintext too), then removes it.
void removePrivateDir(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) shred(e.path().string());
  fs::remove_all(dir, ec);
}

}  // namespace

int cmdSecretsShow(const std::string& name, const std::string& dir) {
  auto file = secretsFile(dir);
  if (!file) return fail(file.error().message);
  auto ids = sec::loadSopsIdentities();
  if (!ids) return fail(ids.error().message);
  auto text = readAll(*file);
  if (!text) return fail(text.error().message);
  auto d = sec::decryptSops(*text, sec::sopsFormatFor(*file), *ids);
  wipe(*text);
  if (!d) return fail(*file + ": " + d.error().message);
  std::map<std::string, int> count;
  for (const auto& l : d->leaves) count[l.path]++;
  for (const auto& l : d->leaves) {
    if (l.path != name) continue;
    if (count[name] != 1) return fail(name + " is a list; name a single value");
    std::cout << l.value.reveal();
    if (isatty(STDOUT_FILENO)) std::cout << "\n";
    std::cout.flush();
    return kOk;
  }
  return fail("no secret named " + name + " in " + *file);
}

int cmdSecretsSet(const std::string& name, const std::string& dir, const std::string& valueFile) {
  auto file = secretsFile(dir);
  if (!file) return fail(file.error().message);
  bool exists = fs::exists(*file);
  auto ids = sec::loadSopsIdentities();
  if (!ids && (exists || !std::getenv("TEND_AGE_RECIPIENTS"))) return fail(ids.error().message);
  std::vector<sec::age::X25519Identity> idv = ids ? *ids : std::vector<sec::age::X25519Identity>{};
  std::vector<std::string> recipients;
  if (!exists) {
    recipients = newFileRecipients(idv);
    if (recipients.empty()) return fail("no recipients for the new file (set TEND_AGE_RECIPIENTS)");
  }
  auto value = readValue(name, valueFile);
  if (!value) return fail(value.error().message);
  auto r = sec::sopsSetValue(*file, name, *value, idv, recipients);
  if (!r) return fail(r.error().message);
  std::cerr << (exists ? "updated " : "created ") << *file << ": set " << name << "\n";
  return kOk;
}

int cmdSecretsEdit(const std::string& dir) {
  auto file = secretsFile(dir);
  if (!file) return fail(file.error().message);
  bool exists = fs::exists(*file);
  auto ids = sec::loadSopsIdentities();
  if (!ids) return fail(ids.error().message);
  auto format = sec::sopsFormatFor(*file);
  std::string plain;
  if (exists) {
    auto text = readAll(*file);
    if (!text) return fail(text.error().message);
    auto p = sec::decryptSopsToPlain(*text, format, *ids);
    if (!p) return fail(*file + ": " + p.error().message);
    plain = p->reveal();
  } else {
    plain = format == sec::SopsFormat::kJson ? "{}\n" : "";
  }

  // From here until the plaintext is gone, a stop signal cleans up before it ends tendctl.
  StopSignals signals;
  // A private directory: the plaintext file is 0600 inside a 0700 directory.
  const char* base = std::getenv("XDG_RUNTIME_DIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tend-secrets-XXXXXX";
  if (!mkdtemp(tmpl.data())) return fail("cannot create a private temp directory");
  std::string tmp = tmpl + (format == sec::SopsFormat::kJson ? "/secrets.json" : "/secrets.yaml");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    ::rmdir(tmpl.c_str());
    return fail("cannot create " + tmp);
  }
  bool wrote = ::write(fd, plain.data(), plain.size()) == static_cast<ssize_t>(plain.size());
  ::close(fd);
  auto cleanup = [&] {
    removePrivateDir(tmpl);
    wipe(plain);
  };
  if (!wrote) {
    cleanup();
    return fail("cannot write " + tmp);
  }
  int rc = StopSignals::pending() ? -1 : runEditor(tmp);
  if (StopSignals::pending()) {
    cleanup();
    std::cerr << "tendctl secrets: stopped by a signal; the plaintext copy is removed, nothing changed\n";
    signals.restoreAndReraise();
    return kFailure;  // the signal was ignored before tendctl ran
  }
  if (rc != 0) {
    cleanup();
    return fail("editor exited with status " + std::to_string(rc) + "; nothing changed");
  }
  auto edited = readAll(tmp);
  cleanup();
  signals.restoreAndReraise();
  if (!edited) return fail(edited.error().message);
  int result = kOk;
  if (exists) {
    auto r = sec::sopsReplacePlain(*file, *edited, *ids);
    if (!r) result = fail(r.error().message);
    else std::cerr << (*r ? "updated " : "no changes to ") << *file << "\n";
  } else {
    auto recipients = newFileRecipients(*ids);
    auto enc = sec::sopsEncryptPlain(*edited, format, recipients);
    if (!enc) {
      result = fail(enc.error().message);
    } else {
      int ofd = ::open(file->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      bool ok = ofd >= 0 && ::write(ofd, enc->data(), enc->size()) == static_cast<ssize_t>(enc->size());
      if (ofd >= 0) ::close(ofd);
      if (!ok) result = fail("cannot write " + *file);
      else std::cerr << "created " << *file << "\n";
    }
  }
  wipe(*edited);
  return result;
}

}  // namespace tend::ctl
