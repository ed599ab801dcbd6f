// HostIo on the machine tend runs on: POSIX file calls and runSubprocess (never system()).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/subprocess.h"
#include "providers/bind9/host_io.h"

namespace tend::bind9 {

std::string CommandResult::message() const {
  auto trim = [](std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    size_t i = 0;
    while (i < s.size() && (s[i] == '\n' || s[i] == ' ')) ++i;
    return s.substr(i);
  };
  std::string e = trim(err);
  if (!e.empty()) return e;
  return trim(out);
}

namespace {

Error sysError(const std::string& what, const std::string& path, int err) {
  return makeError(what + " " + path + ": " + std::strerror(err));
}

std::string dirOf(const std::string& path) {
  auto pos = path.rfind('/');
  if (pos == std::string::npos) return ".";
  if (pos == 0) return "/";
  return path.substr(0, pos);
}

Result<void> fsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sysError("open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return sysError("fsync", dir, err);
  return {};
}

class LocalHostIo final : public HostIo {
 public:
  std::string describe() const override { return "local"; }

  Result<std::optional<std::string>> readFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return std::optional<std::string>{};
      return sysError("open", path, errno);
    }
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return sysError("read", path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return std::optional<std::string>(std::move(out));
  }

  Result<void> writeFile(const std::string& path, const std::string& content,
                         unsigned mode) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return sysError("create", path, errno);
    size_t off = 0;
    while (off < content.size()) {
      ssize_t n = ::write(fd, content.data() + off, content.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return sysError("write", path, err);
      }
      off += static_cast<size_t>(n);
    }
    // The umask may have narrowed the mode; zone files must be readable by named's user.
    ::fchmod(fd, mode);
    if (::fsync(fd) != 0) {
      int err = errno;
      ::close(fd);
      return sysError("fsync", path, err);
    }
    if (::close(fd) != 0) return sysError("close", path, errno);
    return {};
  }

  Result<void> rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return sysError("rename " + from + " ->", to, errno);
    return fsyncDir(dirOf(to));
  }

  Result<void> link(const std::string& from, const std::string& to) override {
    if (::unlink(to.c_str()) != 0 && errno != ENOENT) return sysError("unlink", to, errno);
    if (::link(from.c_str(), to.c_str()) != 0) return sysError("link " + from + " ->", to, errno);
    return {};
  }

  Result<std::optional<FileStat>> stat(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::optional<FileStat>{};
      return sysError("stat", path, errno);
    }
    FileStat fs;
    fs.isDir = S_ISDIR(st.st_mode);
    fs.size = static_cast<uint64_t>(st.st_size);
    fs.mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    return std::optional<FileStat>(fs);
  }

  Result<void> remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sysError("remove", path, errno);
    return {};
  }

  Result<void> makeDirs(const std::string& path, unsigned mode) override {
    std::string cur;
    size_t pos = 0;
    while (pos <= path.size()) {
      size_t next = path.find('/', pos);
      if (next == std::string::npos) next = path.size();
      cur = path.substr(0, next);
      pos = next + 1;
      if (cur.empty()) continue;
      if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return sysError("mkdir", cur, errno);
    }
    return {};
  }

  Result<std::vector<DirEntry>> listDir(const std::string& path) override {
    std::vector<DirEntry> out;
    DIR* d = ::opendir(path.c_str());
    if (!d) {
      if (errno == ENOENT || errno == ENOTDIR) return out;
      return sysError("opendir", path, errno);
    }
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      bool isDir = false;
      if (e->d_type == DT_DIR) {
        isDir = true;
      } else if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        std::string full = path + "/" + n;
        isDir = ::stat(full.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      }
      out.push_back({n, isDir});
    }
    ::closedir(d);
    return out;
  }

  Result<CommandResult> run(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout) override {
    if (argv.empty()) return makeError("run: empty command", true);
    SubprocessOptions o;
    o.timeout = timeout;
    auto s = runSubprocess(argv, o);
    if (!s.started) return makeError(s.startError);
    CommandResult res;
    res.exitCode = s.exitCode;
    res.timedOut = s.timedOut;
    res.out = std::move(s.out);
    res.err = std::move(s.err);
    if (res.timedOut) res.err += "\n" + argv[0] + ": timed out";
    return res;
  }
};

}  // namespace

std::unique_ptr<HostIo> makeLocalHostIo() { return std::make_unique<LocalHostIo>(); }

}  // namespace tend::bind9
