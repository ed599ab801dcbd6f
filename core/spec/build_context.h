#pragma once
// A Compose `build:` context as the Docker CLI sends it: the directory's files minus what
// `.dockerignore` excludes, as an uncompressed tar, and a content hash of exactly that (so an
// unchanged context is recognised without building).
#include <cstdint>
#include <string>
#include <vector>

namespace tend::spec {

struct ContextFile {
  std::string rel;   // path inside the context, '/'-separated
  std::string abs;
  uint32_t mode = 0644;
  bool dir = false;
  uint64_t size = 0;
};

// The files of `dir` that .dockerignore does not exclude (the Dockerfile and .dockerignore
// are always kept), sorted by path. Symlinks are not followed: a link is refused. False
// with `err` when the directory cannot be read or holds more than 4 GiB / 200,000 entries.
bool listContext(const std::string& dir, const std::string& dockerfile, std::vector<ContextFile>& out,
                 std::string& err);
// .dockerignore matching: does `rel` match the patterns (last match wins, '!' re-includes)?
bool dockerIgnored(const std::vector<std::string>& patterns, const std::string& rel);

// sha256 hex over every file's path, mode and content, plus `extra` (the build options).
bool hashContext(const std::vector<ContextFile>& files, const std::string& extra, std::string& hex, std::string& err);
// One ustar header (mtime 0) appended to `tar`; a name over 100 bytes is split into ustar's
// prefix and name at a '/', and one that cannot be is `err`. tarPad pads the data after it.
bool tarHeader(std::string& tar, const std::string& name, uint64_t size, uint32_t mode, bool dir, std::string& err,
               uint32_t uid = 0, uint32_t gid = 0);
void tarPad(std::string& tar);
// The tar stream (ustar, no compression) of the files, plus extra in-memory files.
bool tarContext(const std::vector<ContextFile>& files, const std::vector<std::pair<std::string, std::string>>& extra,
                std::string& tar, std::string& err);

}  // namespace tend::spec
