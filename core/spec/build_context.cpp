#include "core/spec/build_context.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "core/hash.h"

namespace tend::spec {

namespace fs = std::filesystem;

namespace {

std::string cleanPattern(std::string p) {
  while (!p.empty() && (p.back() == ' ' || p.back() == '\t' || p.back() == '\r')) p.pop_back();
  size_t b = p.find_first_not_of(" \t");
  p = b == std::string::npos ? "" : p.substr(b);
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  while (!p.empty() && p[0] == '/') p = p.substr(1);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// A .dockerignore pattern (Go filepath.Match plus `**` for any number of path elements).
bool globMatch(const std::string& pat, const std::string& path) {
  if (pat.find("**") == std::string::npos) return fnmatch(pat.c_str(), path.c_str(), FNM_PATHNAME) == 0;
  std::string re;
  for (size_t i = 0; i < pat.size(); ++i) {
    char c = pat[i];
    if (c == '*' && i + 1 < pat.size() && pat[i + 1] == '*') {
      if (i + 2 < pat.size() && pat[i + 2] == '/') {
        re += "(.*/)?";
        i += 2;
      } else {
        re += ".*";
        ++i;
      }
    } else if (c == '*') {
      re += "[^/]*";
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '[') {
      size_t e = pat.find(']', i);
      if (e == std::string::npos) return false;
      std::string cls = pat.substr(i, e - i + 1);
      if (cls.size() > 2 && cls[1] == '^') cls[1] = '^';
      re += cls;
      i = e;
    } else if (std::strchr(".+()|{}^$\\", c)) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  try {
    return std::regex_match(path, std::regex(re));
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

bool dockerIgnored(const std::vector<std::string>& patterns, const std::string& rel) {
  bool ignored = false;
  for (const auto& raw : patterns) {
    bool negate = !raw.empty() && raw[0] == '!';
    std::string p = cleanPattern(negate ? raw.substr(1) : raw);
    if (p.empty()) continue;
    // A pattern matching a parent directory matches everything below it.
    bool m = globMatch(p, rel);
    for (size_t s = rel.find('/'); !m && s != std::string::npos; s = rel.find('/', s + 1)) m = globMatch(p, rel.substr(0, s));
    if (m) ignored = !negate;
  }
  return ignored;
}

bool listContext(const std::string& dir, const std::string& dockerfile, std::vector<ContextFile>& out,
                 std::string& err) {
  std::vector<std::string> patterns;
  {
    std::ifstream in(dir + "/.dockerignore");
    std::string line;
    while (std::getline(in, line)) {
      std::string c = cleanPattern(line);
      if (c.empty() || line.find_first_not_of(" \t") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') continue;
      patterns.push_back(line[line.find_first_not_of(" \t")] == '!' ? "!" + cleanPattern(line.substr(line.find('!') + 1)) : c);
    }
  }
  std::string df = dockerfile.empty() ? "Dockerfile" : cleanPattern(dockerfile);
  std::error_code ec;
  uint64_t total = 0;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) {
    err = "cannot read build context: " + ec.message();
    return false;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      err = "cannot read build context: " + ec.message();
      return false;
    }
    std::string rel = fs::path(it->path()).lexically_relative(dir).generic_string();
    bool keep = rel == df || rel == ".dockerignore";
    if (!keep && dockerIgnored(patterns, rel)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        // A directory may still hold re-included files ("!dir/keep"): descend only then.
        bool reinclude = std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
          return !p.empty() && p[0] == '!' && p.compare(1, rel.size() + 1, rel + "/") == 0;
        });
        if (!reinclude) it.disable_recursion_pending();
      }
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      err = "build context holds a symbolic link '" + rel + "': tend does not follow links out of the context";
      return false;
    }
    ContextFile f;
    f.rel = rel;
    f.abs = it->path().string();
    f.mode = st.st_mode & 07777;
    f.dir = S_ISDIR(st.st_mode);
    if (!f.dir && !S_ISREG(st.st_mode)) continue;
    f.size = f.dir ? 0 : static_cast<uint64_t>(st.st_size);
    total += f.size;
    out.push_back(f);
    if (out.size() > 200000 || total > (4ull << 30)) {
      err = "build context is larger than 4 GiB or 200,000 files (add a .dockerignore)";
      return false;
    }
  }
  std::sort(out.begin(), out.end(), [](const ContextFile& a, const ContextFile& b) { return a.rel < b.rel; });
  return true;
}

bool hashContext(const std::vector<ContextFile>& files, const std::string& extra, std::string& hex, std::string& err) {
  Sha256Hasher sha;
  auto add = [&](const std::string& s) {
    sha.update(std::to_string(s.size()) + ":");
    sha.update(s);
  };
  add(extra);
  std::vector<char> buf(1 << 16);
  for (const auto& f : files) {
    add(f.rel);
    add(std::to_string(f.mode) + (f.dir ? "d" : "f") + std::to_string(f.size));
    if (f.dir) continue;
    std::ifstream in(f.abs, std::ios::binary);
    if (!in) {
      err = "cannot read '" + f.rel + "' of the build context";
      return false;
    }
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      sha.update(buf.data(), static_cast<size_t>(in.gcount()));
    }
  }
  auto md = sha.finish();
  hex = hexBytes(md.data(), md.size());
  return true;
}

namespace {

void octal(char* dst, size_t width, uint64_t v) {
  // width includes the terminating NUL; zero-padded octal digits before it.
  for (size_t i = width - 1; i-- > 0;) {
    dst[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  dst[width - 1] = '\0';
}

}  // namespace

bool tarHeader(std::string& tar, const std::string& name, uint64_t size, uint32_t mode, bool dir, std::string& err,
               uint32_t uid, uint32_t gid) {
  char h[512];
  std::memset(h, 0, sizeof h);
  std::string n = dir ? name + "/" : name;
  std::string prefix;
  if (n.size() > 100) {  // ustar: split into prefix (155) and name (100) at a '/'
    size_t cut = n.rfind('/', n.size() - 2);
    while (cut != std::string::npos && (cut > 155 || n.size() - cut - 1 > 100)) cut = cut == 0 ? std::string::npos : n.rfind('/', cut - 1);
    if (cut == std::string::npos) {
      err = "path too long for the build context tar: '" + name + "'";
      return false;
    }
    prefix = n.substr(0, cut);
    n = n.substr(cut + 1);
  }
  std::memcpy(h, n.data(), n.size());
  octal(h + 100, 8, mode);
  octal(h + 108, 8, uid);
  octal(h + 116, 8, gid);
  octal(h + 124, 12, size);
  octal(h + 136, 12, 0);  // mtime 0: the same context gives the same tar
  h[156] = dir ? '5' : '0';
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memcpy(h + 345, prefix.data(), prefix.size());
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  octal(h + 148, 7, sum);  // six digits, NUL, then a space
  h[155] = ' ';
  tar.append(h, sizeof h);
  return true;
}

void tarPad(std::string& tar) {
  size_t r = tar.size() % 512;
  if (r) tar.append(512 - r, '\0');
}

bool tarContext(const std::vector<ContextFile>& files, const std::vector<std::pair<std::string, std::string>>& extra,
                std::string& tar, std::string& err) {
  tar.clear();
  for (const auto& f : files) {
    if (!tarHeader(tar, f.rel, f.dir ? 0 : f.size, f.mode, f.dir, err)) return false;
    if (f.dir) continue;
    std::ifstream in(f.abs, std::ios::binary);
    if (!in) {
      err = "cannot read '" + f.rel + "' of the build context";
      return false;
    }
    size_t before = tar.size();
    tar.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (tar.size() - before != f.size) {
      err = "'" + f.rel + "' changed while the build context was read";
      return false;
    }
    tarPad(tar);
  }
  for (const auto& [name, content] : extra) {
    if (!tarHeader(tar, name, content.size(), 0644, false, err)) return false;
    tar += content;
    tarPad(tar);
  }
  tar.append(1024, '\0');
  return true;
}

}  // namespace tend::spec
