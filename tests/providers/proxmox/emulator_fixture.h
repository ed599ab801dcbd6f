#pragma once
// Starts tests/fixtures/proxmox/pve_emulator.py on 127.0.0.1 (a free port it picks itself),
// waits for its ready.json, and stops it by the PID it started. Admin calls (/_admin/) go
// through curl to the child on 127.0.0.1 without certificate checks: the test's own control
// channel is not what is under test, and a certificate may name another host on purpose.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/subprocess.h"
#include "providers/proxmox/client.h"

extern char** environ;

namespace tend::testing {

inline constexpr const char* kPveTokenId = "tend@pve!ci";
inline constexpr const char* kPveTokenSecret = "c0ffee00-1111-2222-3333-tendtestsecret";

class PveEmulator {
 public:
  explicit PveEmulator(std::vector<std::string> extra = {}) {
    char tmpl[] = "/tmp/tend-pve-XXXXXX";
    if (!::mkdtemp(tmpl)) {
      error = "mkdtemp failed";
      return;
    }
    dir = tmpl;
    std::string script = std::string(TEND_SOURCE_DIR) + "/tests/fixtures/proxmox/pve_emulator.py";
    std::vector<std::string> args = {"python3", script, "--listen", "127.0.0.1", "--port", "0",
                                     "--dir", dir, "--token",
                                     std::string(kPveTokenId) + "=" + kPveTokenSecret,
                                     "--auth-delay", "0.3", "--task-seconds", "0.1",
                                     "--lock-timeout", "0.2", "--nodes", "pve"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int logFd = ::open((dir + "/emulator.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, logFd, 1);
    posix_spawn_file_actions_adddup2(&fa, logFd, 2);
    int rc = ::posix_spawnp(&pid_, "python3", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(logFd);
    if (rc != 0) {
      error = "cannot start python3 (install deploy/install-deps.sh packages)";
      pid_ = -1;
      return;
    }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
      std::ifstream f(dir + "/ready.json");
      if (f) {
        auto j = nlohmann::json::parse(f, nullptr, false);
        if (j.is_object()) {
          port = j["port"].get<int>();
          fingerprint = j["fingerprint"].get<std::string>();
          return;
        }
      }
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ifstream log(dir + "/emulator.log");
    std::stringstream ss;
    ss << log.rdbuf();
    error = "emulator did not start: " + ss.str();
  }

  ~PveEmulator() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st = 0;
      for (int i = 0; i < 100; ++i) {
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
      }
    }
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

  bool started() const { return port > 0; }
  std::string caFile() const { return dir + "/ca.pem"; }
  std::string untrustedCaFile() const { return dir + "/untrusted-ca.pem"; }

  proxmox::ClientConfig config() const {
    proxmox::ClientConfig c;
    c.host = "127.0.0.1";
    c.port = static_cast<uint16_t>(port);
    c.tokenId = kPveTokenId;
    c.tokenSecret = kPveTokenSecret;
    c.tls.fingerprint = fingerprint;
    return c;
  }

  // An /_admin/ call; returns the `data` member (null on failure).
  nlohmann::json admin(const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr) const {
    std::vector<std::string> argv = {"curl", "-sS", "-k", "-X", method,
                                     "https://127.0.0.1:" + std::to_string(port) + "/_admin" + path};
    if (!body.is_null()) {
      argv.push_back("--data-binary");
      argv.push_back(body.dump());
    }
    SubprocessOptions o;
    o.timeout = std::chrono::seconds(20);
    auto r = runSubprocess(argv, o);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (!j.is_object()) return nullptr;
    return j.value("data", nlohmann::json());
  }

  int port = 0;
  std::string fingerprint;
  std::string dir;
  std::string error;

 private:
  pid_t pid_ = -1;
};

}  // namespace tend::testing
