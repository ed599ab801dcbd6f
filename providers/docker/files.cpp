#include "providers/docker/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <openssl/crypto.h>

#include "core/spec/build_context.h"
#include "core/spec/compose_env.h"

namespace tend::docker {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string jstr(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string what(const json& e) { return jstr(e, "kind") + " '" + jstr(e, "name") + "'"; }

constexpr uintmax_t kMaxFile = 4u << 20;

Result<SecretString> readFileValue(const json& e, const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return makeError(what(e) + ": cannot read its file " + path + ": " + ec.message());
  if (size > kMaxFile) return makeError(what(e) + ": its file " + path + " is larger than 4 MiB", true);
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(what(e) + ": cannot open its file " + path);
  std::string v(static_cast<size_t>(size), '\0');
  in.read(v.data(), static_cast<std::streamsize>(size));
  if (static_cast<uintmax_t>(in.gcount()) != size) return makeError(what(e) + ": short read of its file " + path);
  return SecretString(std::move(v));
}

Result<SecretString> envValue(const json& e) {
  std::string var = jstr(e, "env");
  if (const char* v = std::getenv(var.c_str())) return SecretString(v);
  std::string dotenv = jstr(e, "dotenv");
  if (!dotenv.empty()) {
    std::ifstream in(dotenv, std::ios::binary);
    if (in) {
      std::stringstream ss;
      ss << in.rdbuf();
      SecretString text(ss.str());
      std::vector<std::pair<std::string, std::string>> kv;
      std::string err;
      auto lookup = [](const std::string& n) -> std::optional<std::string> {
        if (const char* x = std::getenv(n.c_str())) return std::string(x);
        return std::nullopt;
      };
      bool okParse = spec::parseDotenv(text.reveal(), lookup, kv, err);
      std::optional<SecretString> found;
      for (auto& [k, v] : kv) {
        if (k == var) found = SecretString(v);
        SecretString wipe(std::move(v));  // every value of the file is wiped, not only ours
      }
      if (!okParse) return makeError(what(e) + ": the project's .env does not parse: " + err, true);
      if (found) return *found;
    }
  }
  return makeError(what(e) + ": environment variable '" + var + "' is not set in tendd's environment" +
                       (dotenv.empty() ? std::string() : " nor in " + dotenv),
                   true);
}

std::optional<uint32_t> idOf(const json& e, const char* k) {
  std::string s = jstr(e, k);
  if (s.empty()) return std::nullopt;
  return static_cast<uint32_t>(std::strtoul(s.c_str(), nullptr, 10));
}

}  // namespace

bool hasExternalFileSources(const json& spec) {
  auto it = spec.find("files");
  if (it == spec.end() || !it->is_array()) return false;
  for (const auto& e : *it)
    if (e.is_object() && (e.contains("file") || e.contains("env"))) return true;
  return false;
}

Result<std::vector<DeliveredFile>> resolveFiles(const json& spec, const SecretResolver* secrets) {
  std::vector<DeliveredFile> out;
  auto it = spec.find("files");
  if (it == spec.end() || !it->is_array()) return out;
  for (const auto& e : *it) {
    if (!e.is_object()) continue;
    DeliveredFile f;
    f.kind = jstr(e, "kind");
    f.name = jstr(e, "name");
    f.target = jstr(e, "target");
    if (e.contains("mode") && e["mode"].is_number_integer()) f.mode = e["mode"].get<uint32_t>() & 07777;
    f.uid = idOf(e, "uid");
    f.gid = idOf(e, "gid");
    if (f.target.empty() || f.target[0] != '/') return makeError(what(e) + ": no absolute target", true);
    if (e.contains("file")) {
      auto v = readFileValue(e, jstr(e, "file"));
      if (!v) return v.error();
      f.content = std::move(*v);
    } else if (e.contains("env")) {
      auto v = envValue(e);
      if (!v) return v.error();
      f.content = std::move(*v);
    } else {
      std::string c = jstr(e, "content");
      if (c.find("${secret:") != std::string::npos) {
        if (!secrets) return makeError(what(e) + ": its content references a secret but no secrets are configured", true);
        auto v = substituteSecrets(c, *secrets);
        if (!v) return makeError(what(e) + ": " + v.error().message, v.error().terminal);
        f.content = std::move(*v);
      } else {
        f.content = SecretString(std::move(c));
      }
    }
    // A secret's value is hidden from every message from now on, like a ${secret:NAME}'s.
    if (f.kind == "secret") Redactor::instance().add(f.content.reveal());
    out.push_back(std::move(f));
  }
  return out;
}

Result<std::vector<std::string>> materializeFiles(const std::string& dir, const std::vector<DeliveredFile>& files) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return makeError("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);  // the files inside may be readable by anyone; the path is not
  std::vector<std::string> paths;
  std::set<std::string> keep;
  for (size_t i = 0; i < files.size(); ++i) {
    const DeliveredFile& f = files[i];
    std::string base = std::to_string(i) + "-" + f.kind + "-" + f.name;
    std::string path = (fs::path(dir) / base).string();
    std::string tmp = path + ".tmp";
    ::unlink(tmp.c_str());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return makeError("cannot write " + tmp + ": " + std::strerror(errno));
    const std::string& v = f.content.reveal();
    size_t off = 0;
    while (off < v.size()) {
      ssize_t n = ::write(fd, v.data() + off, v.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int er = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return makeError("cannot write " + tmp + ": " + std::strerror(er));
      }
      off += static_cast<size_t>(n);
    }
    if (f.uid || f.gid) {
      if (::fchown(fd, f.uid ? static_cast<uid_t>(*f.uid) : static_cast<uid_t>(-1),
                   f.gid ? static_cast<gid_t>(*f.gid) : static_cast<gid_t>(-1)) != 0) {
        int er = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return makeError(f.kind + " '" + f.name + "': cannot give its file the owner uid/gid asked for: " +
                             std::strerror(er) + (er == EPERM ? " (tendd is not running as root)" : ""),
                         er == EPERM);
      }
    }
    ::fchmod(fd, f.mode);
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
      ::unlink(tmp.c_str());
      return makeError("cannot write " + tmp + ": " + std::strerror(errno));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int er = errno;
      ::unlink(tmp.c_str());
      return makeError("cannot rename " + tmp + ": " + std::strerror(er));
    }
    paths.push_back(path);
    keep.insert(base);
  }
  for (const auto& de : fs::directory_iterator(dir, ec))
    if (!keep.count(de.path().filename().string())) fs::remove(de.path(), ec);
  return paths;
}

Result<SecretString> tarFiles(const std::vector<DeliveredFile>& files) {
  // No entries for the parent directories: the daemon creates missing ones (0755, root) and
  // leaves existing ones as they are (an entry for /tmp would reset its mode).
  std::string out;
  for (const auto& f : files) {
    std::string err;
    if (!spec::tarHeader(out, f.target.substr(1), f.content.reveal().size(), f.mode, false, err, f.uid.value_or(0),
                         f.gid.value_or(0))) {
      OPENSSL_cleanse(out.data(), out.size());
      return makeError(f.kind + " '" + f.name + "': " + err, true);
    }
    out += f.content.reveal();
    spec::tarPad(out);
  }
  out.append(1024, '\0');
  return SecretString(std::move(out));
}

}  // namespace tend::docker
