#pragma once
// A small located YAML tree built from yaml-cpp's event parser. yaml-cpp's own Node keeps
// duplicate mapping keys silently and is slow to build; this tree keeps 1-based positions on
// every node, reports duplicate keys, and is cheap to walk.
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/diagnostic.h"

namespace tend::spec {

struct YNode {
  enum class Kind : uint8_t { Null, Scalar, Seq, Map };
  Kind kind = Kind::Null;
  bool quoted = false;  // a non-plain scalar ("..." or '...'): never null/bool/number by YAML rules
  int line = 0;         // 1-based
  int col = 0;          // 1-based
  std::string value;    // scalars
  std::vector<const YNode*> items;                          // sequences
  std::vector<std::pair<const YNode*, const YNode*>> pairs;  // mappings, in file order

  bool isNull() const { return kind == Kind::Null; }
  bool isScalar() const { return kind == Kind::Scalar; }
  bool isSeq() const { return kind == Kind::Seq; }
  bool isMap() const { return kind == Kind::Map; }
  const char* kindName() const;
};

struct YDoc {
  std::string file;  // as shown in diagnostics
  std::deque<YNode> nodes;
  const YNode* root = nullptr;  // null for an empty file
};

// Largest spec file tend reads; larger files are rejected before reading them.
constexpr uint64_t kMaxSpecFileBytes = 4ull * 1024 * 1024;

// Reads and parses `path` (shown as `shown`). On any problem appends located errors to `diags`
// and returns null. `missingOk`: a missing file is not an error (returns null, no diagnostic).
std::unique_ptr<YDoc> readYamlFile(const std::string& path, const std::string& shown,
                                   Diagnostics& diags, bool missingOk, bool* missing = nullptr);
// Parses text already in memory.
std::unique_ptr<YDoc> parseYaml(const std::string& text, const std::string& shown,
                                Diagnostics& diags);

}  // namespace tend::spec
