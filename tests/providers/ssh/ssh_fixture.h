#pragma once
// Real SSH servers for the session-layer tests:
//  - PrivateSshd: this test's own sshd on a free 127.0.0.1 port (own config, host key,
//    client key, streamlocal forwarding allowed, internal-sftp), started as a child and
//    stopped by the PIDs it started.
//  - TestHosts: Debian containers from tests/fixtures/ssh/test-hosts.sh on 127.2.0.x:22.
// A test that cannot get its server reports itself skipped (exit 77, ctest SKIP_RETURN_CODE),
// never passed; under CI=true a missing tool fails instead.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "providers/ssh/ssh_session.h"
#include "tests/support/shell.h"

extern char** environ;

namespace tend::sshtest {
namespace fs = std::filesystem;

inline constexpr int kSkip = 77;

// Ends this test process as SKIPPED. ctest runs each test case in its own process, so only
// this case is skipped; run by hand, the binary stops here with exit code 77.
[[noreturn]] inline void skipTest(const std::string& why, bool missingTool) {
  const char* ci = std::getenv("CI");
  if (missingTool && ci && std::string(ci) == "true") {
    FAIL("CI=true and a tool the test needs is missing: " << why);
  }
  std::printf("SKIPPED: %s\n", why.c_str());
  std::fflush(stdout);
  std::_Exit(kSkip);
}

using tend::testing::sh;

inline std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void writeText(const std::string& path, const std::string& s, unsigned mode = 0644) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << s;
  }
  ::chmod(path.c_str(), mode);
}

inline std::string tempDir(const std::string& prefix) {
  std::string d = tend::testing::makeTempDir(prefix);
  if (!d.empty()) ::chmod(d.c_str(), 0755);
  return d;
}

inline int freePort() { return tend::testing::freeLoopbackPort(); }

// True once something on address:port sends an SSH banner.
inline bool sshBanner(const std::string& address, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    char buf[8] = {};
    ok = ::recv(fd, buf, 7, MSG_WAITALL) == 7 && std::string(buf, 7) == "SSH-2.0";
  }
  ::close(fd);
  return ok;
}

inline std::string pubKeyLine(const std::string& pubFile) {
  std::string l = readText(pubFile);
  // "type base64 comment" -> "type base64"
  auto sp = l.find(' ');
  auto sp2 = sp == std::string::npos ? sp : l.find(' ', sp + 1);
  l = sp2 == std::string::npos ? l : l.substr(0, sp2);
  while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
  return l;
}

inline bool keygen(const std::string& file, const std::string& comment) {
  int rc = 0;
  sh("ssh-keygen -q -t ed25519 -N '' -C " + comment + " -f " + file + " </dev/null 2>&1", &rc);
  return rc == 0;
}

class PrivateSshd {
 public:
  // Skips the test when sshd cannot run here (not root, not installed).
  explicit PrivateSshd(const std::string& extraConfig = "") {
    if (::geteuid() != 0) skipTest("a private sshd needs root", false);
    if (::access("/usr/sbin/sshd", X_OK) != 0)
      skipTest("/usr/sbin/sshd not installed (openssh-server)", true);
    dir_ = tempDir("tend-sshd-");
    REQUIRE(!dir_.empty());
    REQUIRE(keygen(dir_ + "/host_key", "tend-test-sshd"));
    REQUIRE(keygen(dir_ + "/id_ed25519", "tend-test-client"));
    writeText(dir_ + "/authorized_keys", readText(dir_ + "/id_ed25519.pub"));
    port_ = freePort();
    writeText(dir_ + "/known_hosts",
              "[127.0.0.1]:" + std::to_string(port_) + " " + pubKeyLine(dir_ + "/host_key.pub") +
                  "\n",
              0600);
    writeText(dir_ + "/sshd_config",
              "Port " + std::to_string(port_) +
                  "\nListenAddress 127.0.0.1\n"
                  "HostKey " + dir_ + "/host_key\n"
                  "AuthorizedKeysFile " + dir_ + "/authorized_keys\n"
                  "PidFile none\nUsePAM no\nStrictModes no\nUseDNS no\n"
                  "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                  "PermitRootLogin prohibit-password\nAllowStreamLocalForwarding yes\n"
                  "Subsystem sftp internal-sftp\nLogLevel ERROR\nMaxStartups 100\n" +
                  extraConfig);
    ::mkdir("/run/sshd", 0755);
    start();
  }
  ~PrivateSshd() {
    stop();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  PrivateSshd(const PrivateSshd&) = delete;
  PrivateSshd& operator=(const PrivateSshd&) = delete;

  void start() {
    std::vector<std::string> args = {"/usr/sbin/sshd", "-D", "-e", "-f", dir_ + "/sshd_config"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ + "/sshd.log").c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    REQUIRE(rc == 0);
    for (int i = 0; i < 100 && !sshBanner("127.0.0.1", port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    INFO(readText(dir_ + "/sshd.log"));
    REQUIRE(sshBanner("127.0.0.1", port_));
  }

  // Stops the listener and every connection process it forked (its children, by PID), the
  // way a host reboot or an sshd restart drops established sessions.
  void stop() {
    if (pid_ <= 0) return;
    for (pid_t c : childrenOf(pid_)) ::kill(c, SIGTERM);
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  void restart() {
    stop();
    start();
  }

  tend::ssh::HostConfig config() const {
    tend::ssh::HostConfig c;
    c.name = "sshd";
    c.address = "127.0.0.1";
    c.port = port_;
    c.user = "root";
    c.privateKeyFile = dir_ + "/id_ed25519";
    c.knownHostsFile = dir_ + "/known_hosts";
    c.connectTimeout = std::chrono::seconds(5);
    return c;
  }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  std::string hostKeyFingerprint() const {
    auto fp = tend::ssh::fingerprintOfPublicKey(pubKeyLine(dir_ + "/host_key.pub"));
    return fp ? *fp : "";
  }

 private:
  static std::vector<pid_t> childrenOf(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string stat = readText(e.path().string() + "/stat");
      auto close = stat.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream is(stat.substr(close + 2));
      char state;
      pid_t ppid = 0;
      is >> state >> ppid;
      if (ppid == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
  }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// Debian containers running sshd on 127.2.0.x:22 (tests/fixtures/ssh/test-hosts.sh).
class TestHosts {
 public:
  struct Host {
    std::string name, address, container;
  };
  // `dockerArgs`: more `docker run` arguments for every host (TEND_TEST_HOST_DOCKER_ARGS).
  // `systemd`: hosts that boot systemd as PID 1 (TEND_TEST_HOST_SYSTEMD=1).
  explicit TestHosts(int count, const std::string& dockerArgs = "", bool systemd = false) {
    dir_ = tempDir("tend-testhosts-");
    REQUIRE(!dir_.empty());
    int rc = 0;
    std::string env = dockerArgs.empty() ? "" : "TEND_TEST_HOST_DOCKER_ARGS=" + tend::ssh::shellQuote(dockerArgs) + " ";
    if (systemd) env += "TEND_TEST_HOST_SYSTEMD=1 ";
    std::string out = sh(env + "bash " TEND_SOURCE_DIR "/tests/fixtures/ssh/test-hosts.sh start " +
                             dir_ + " " + std::to_string(count) + " 2>" + dir_ + "/start.err",
                         &rc);
    if (rc == kSkip) {
      std::string why = readText(dir_ + "/start.err");
      fs::remove_all(dir_);
      skipTest("test hosts unavailable: " + why, true);
    }
    if (rc != 0) {
      std::string why = readText(dir_ + "/start.err");
      sh("bash " TEND_SOURCE_DIR "/tests/fixtures/ssh/test-hosts.sh stop " + dir_ + " 2>&1");
      fs::remove_all(dir_);
      FAIL("test-hosts.sh start failed (exit " << rc << "): " << why);
    }
    std::istringstream is(out);
    Host h;
    while (is >> h.name >> h.address >> h.container) hosts_.push_back(h);
    REQUIRE(static_cast<int>(hosts_.size()) == count);
  }
  ~TestHosts() {
    sh("bash " TEND_SOURCE_DIR "/tests/fixtures/ssh/test-hosts.sh stop " + dir_ + " 2>&1");
    fs::remove_all(dir_);
  }
  TestHosts(const TestHosts&) = delete;
  TestHosts& operator=(const TestHosts&) = delete;

  const std::vector<Host>& hosts() const { return hosts_; }
  const std::string& dir() const { return dir_; }
  tend::ssh::HostConfig config(size_t i, const std::string& user = "root") const {
    tend::ssh::HostConfig c;
    c.name = hosts_[i].name;
    c.address = hosts_[i].address;
    c.port = 22;
    c.user = user;
    c.privateKeyFile = dir_ + "/id_ed25519";
    c.knownHostsFile = dir_ + "/known_hosts";
    c.connectTimeout = std::chrono::seconds(5);
    return c;
  }

 private:
  std::string dir_;
  std::vector<Host> hosts_;
};

// Captures what the process writes to stderr (tend's log) while fn runs.
template <class Fn>
std::string captureStderr(Fn&& fn) {
  std::fflush(stderr);
  std::string path = (fs::temp_directory_path() / ("tend-stderr-" + std::to_string(::getpid()))).string();
  int saved = ::dup(2);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  fn();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string out = readText(path);
  ::unlink(path.c_str());
  return out;
}

}  // namespace tend::sshtest
