#include "providers/bind9/temp_files.h"

#include <cctype>

namespace tend::bind9 {

namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "P-S" exactly (decimal, no sign, no leading garbage) -> TempName.
std::optional<TempName> parsePidSeq(const std::string& s) {
  auto dash = s.find('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 >= s.size() || dash > 10 ||
      s.size() - dash - 1 > 19)
    return std::nullopt;
  TempName t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == dash) continue;
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    if (i < dash)
      t.pid = t.pid * 10 + (s[i] - '0');
    else
      t.seq = t.seq * 10 + static_cast<uint64_t>(s[i] - '0');
  }
  return t;
}

}  // namespace

std::string tempFileName(const std::string& target, int64_t pid, uint64_t seq) {
  auto slash = target.rfind('/');
  std::string dir = slash == std::string::npos ? "." : target.substr(0, slash);
  std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  return dir + "/." + base + ".tmp-" + std::to_string(pid) + "-" + std::to_string(seq);
}

std::string batchCheckConfName(const std::string& dir, int64_t pid, uint64_t seq) {
  return dir + "/.check-" + std::to_string(pid) + "-" + std::to_string(seq) + ".conf";
}

namespace {
bool isTargetName(const std::string& base) {
  return (base.size() > 5 && endsWith(base, ".zone") && base[0] != '.') || base == "named.conf.tend";
}
}  // namespace

std::optional<TempName> parseTempName(const std::string& name) {
  if (name.size() < 2 || name[0] != '.' || name.find('/') != std::string::npos) return std::nullopt;
  // The SFTP writer's temp: ".<inner>.tend-" and 10 lower-case hex digits.
  static const std::string sftp = ".tend-";
  constexpr size_t kHex = 10;
  if (name.size() > 1 + sftp.size() + kHex &&
      name.compare(name.size() - kHex - sftp.size(), sftp.size(), sftp) == 0) {
    bool hex = true;
    for (size_t i = name.size() - kHex; i < name.size(); ++i)
      hex = hex && (std::isdigit(static_cast<unsigned char>(name[i])) || (name[i] >= 'a' && name[i] <= 'f'));
    std::string inner = name.substr(1, name.size() - 1 - sftp.size() - kHex);
    if (hex && !inner.empty()) {
      std::optional<TempName> t;
      if (isTargetName(inner)) {
        t = TempName{};
        t->target = inner;
      } else if (auto own = parseTempName(inner); own && own->inner.empty()) {
        t = own;
      }
      if (!t) return std::nullopt;
      t->pid = 0;
      t->seq = 0;
      t->inner = inner;
      return t;
    }
  }
  static const std::string check = ".check-", conf = ".conf";
  if (name.rfind(check, 0) == 0 && endsWith(name, conf) && name.size() > check.size() + conf.size())
    return parsePidSeq(name.substr(check.size(), name.size() - check.size() - conf.size()));
  std::string n = name;
  if (endsWith(n, kCheckWrapperSuffix))
    n.resize(n.size() - std::string(kCheckWrapperSuffix).size());
  auto tmp = n.rfind(".tmp-");
  if (tmp == std::string::npos) return std::nullopt;
  std::string base = n.substr(1, tmp - 1);
  // Only the targets this provider writes: zone files and the fragment.
  if (!isTargetName(base)) return std::nullopt;
  // The wrapper exists for the fragment only.
  if (n.size() != name.size() && base != "named.conf.tend") return std::nullopt;
  auto t = parsePidSeq(n.substr(tmp + 5));
  if (t) t->target = base;
  return t;
}

}  // namespace tend::bind9
