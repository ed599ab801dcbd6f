// What the logger prints: a registered secret, in the message or in a field, comes out as
// "(secret)" in both formats. The logger writes to stderr, so each test points fd 2 at a file
// for the duration of one call and reads back exactly what a journal would have received.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "core/secrets.h"

using tend::Redactor;
namespace tlog = tend::log;

namespace {

constexpr const char* kCanary = "CANARY-log-7f3a9c21e8";

// Redirects stderr to a temporary file until text() is called; restores it in any case.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    path_ = (std::filesystem::temp_directory_path() /
             ("tend-log-test-" + std::to_string(::getpid()) + ".txt"))
                .string();
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    saved_ = ::dup(2);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    restore();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  std::string text() {
    restore();
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::filesystem::remove(path_);
    return ss.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::string path_;
  int saved_ = -1;
};

// One log line written in `format` with the canary registered; the logger's and the Redactor's
// global settings are put back afterwards.
std::string logLine(tlog::Format format, const std::string& msg,
                    const std::map<std::string, std::string>& fields) {
  Redactor::instance().add(kCanary);
  tlog::configure(tlog::Level::Debug, format);
  std::string out;
  {
    StderrCapture cap;
    tlog::warn(msg, fields);
    out = cap.text();
  }
  tlog::configure(tlog::Level::Info, tlog::Format::Text);
  Redactor::instance().clear();
  return out;
}

}  // namespace

TEST_CASE("a secret logged as a field is (secret) in text logs", "[log][secrets]") {
  std::string out = logLine(tlog::Format::Text, "login failed",
                            {{"password", kCanary}, {"detail", std::string("user=admin pass=") + kCanary}});
  INFO(out);
  CHECK(out.find(kCanary) == std::string::npos);
  CHECK(out.find(" password=(secret)") != std::string::npos);
  CHECK(out.find(" detail=\"user=admin pass=(secret)\"") != std::string::npos);
  CHECK(out.find(" warn login failed") != std::string::npos);
}

TEST_CASE("a secret logged as a field is (secret) in JSON logs", "[log][secrets]") {
  std::string out = logLine(tlog::Format::Json, "login failed",
                            {{"password", kCanary}, {"detail", std::string("user=admin pass=") + kCanary}});
  INFO(out);
  CHECK(out.find(kCanary) == std::string::npos);
  auto j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["password"] == "(secret)");
  CHECK(j["detail"] == "user=admin pass=(secret)");
  CHECK(j["msg"] == "login failed");
  CHECK(j["level"] == "warn");
}

TEST_CASE("a secret in the log message is (secret) in text and JSON logs", "[log][secrets]") {
  std::string msg = std::string("docker: auth with ") + kCanary + " refused";
  std::string text = logLine(tlog::Format::Text, msg, {{"resource", "container/app/web"}});
  INFO(text);
  CHECK(text.find(kCanary) == std::string::npos);
  CHECK(text.find(" docker: auth with (secret) refused resource=container/app/web") != std::string::npos);

  std::string json = logLine(tlog::Format::Json, msg, {{"resource", "container/app/web"}});
  INFO(json);
  CHECK(json.find(kCanary) == std::string::npos);
  auto j = nlohmann::json::parse(json, nullptr, false);
  REQUIRE(j.is_object());
  CHECK(j["msg"] == "docker: auth with (secret) refused");
  CHECK(j["resource"] == "container/app/web");
}

TEST_CASE("log lines below the configured level are not written", "[log]") {
  tlog::configure(tlog::Level::Warn, tlog::Format::Text);
  std::string out;
  {
    StderrCapture cap;
    tlog::info("not shown");
    tlog::error("shown");
    out = cap.text();
  }
  tlog::configure(tlog::Level::Info, tlog::Format::Text);
  CHECK(out.find("not shown") == std::string::npos);
  CHECK(out.find(" error shown") != std::string::npos);
}
